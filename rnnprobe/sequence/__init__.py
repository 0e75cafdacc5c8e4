"""Sequence modelling: a character corpus, the char-RNN, training by maximum likelihood, sampling."""
