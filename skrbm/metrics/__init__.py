"""Metrics of label information in learned representations."""

from ._label_information import LabelInformation, label_information

__all__ = ["LabelInformation", "label_information"]
