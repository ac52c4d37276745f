"""txnalert: build, check, exercise and operate transaction email alerts (SQS -> Lambda -> SES)."""

__version__ = "0.1.0"
