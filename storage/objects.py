"""The media bucket in S3."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


async def ensure_bucket(s3: Any, bucket: str) -> bool:
    """Create the bucket unless it exists; True when it was created."""
    try:
        await s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    await s3.create_bucket(Bucket=bucket)
    return True


async def bucket_reachable(s3: Any, bucket: str) -> None:
    """Raise unless S3 answers for the bucket (readiness)."""
    await s3.head_bucket(Bucket=bucket)
