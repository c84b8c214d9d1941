"""AWS EC2 provider (boto3, installed by `pip install 'skyctl[aws]'`); boto3 is imported on first use."""

from providers.aws.provider import AWSProvider

__all__ = ["AWSProvider"]
