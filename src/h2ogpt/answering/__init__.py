"""Answering: how an AnswerRequest becomes events. ``pipeline.Pipeline`` is the one way to produce
an answer; ``prompting`` renders chats for the model; ``model_lock`` names the models compared side by
side."""
