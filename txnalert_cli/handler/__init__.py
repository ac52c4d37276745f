"""The Lambda side of txnalert: SQS batch -> validated transaction -> one email through SES.

Zipped and run on its own in Lambda, so every module here imports only the standard library, boto3/botocore
and aws_lambda_powertools, always relatively. Importing this package (or `contract`/`render`) imports nothing
beyond the standard library; `app` imports boto3 and Powertools lazily, when a handler is built.

- `contract`: the message contract shared with the producer (`txnalert send-test`), stdlib only.
- `render`:   the email (text + HTML + raw MIME), stdlib only.
- `app`:      the Lambda entry point `lambda_handler` and the injectable `AlertHandler`.
"""
