"""Helpers the tests share: paths, processes, the network guard, loopback fakes of remote
servers, API and UI fixtures. Not tests themselves."""
