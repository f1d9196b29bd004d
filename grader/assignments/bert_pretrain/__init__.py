"""CS310 Assignment 6 (BERT pretraining) as an nlpgrade plug-in."""

from grader.assignments.bert_pretrain.plugin import BertPretrain

ASSIGNMENT = BertPretrain()

__all__ = ["ASSIGNMENT", "BertPretrain"]
