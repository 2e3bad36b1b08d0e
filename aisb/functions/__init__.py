"""Code deployed to AWS Lambda: stdlib and boto3 only, never imports pulumi."""
