"""moto's server, with the two fixes Trove's adapters need from moto 5.2, and IAM enforcement.

1. moto's server answers requests on several threads, and its DynamoDB checks a write's
condition and then writes, unlocked: two conditional puts of one key can both succeed,
which DynamoDB never allows (the Table contract's race test catches it). Every DynamoDB
write here runs under one lock, as DynamoDB serialises writes to an item.

2. moto 5.2 answers S3 ListParts through its generic REST-XML serializer, which names every
document's root "{Operation}Response": <ListPartsResponse>. S3 sends <ListPartsResult>,
and the AWS SDK for Rust refuses any other root (boto3 does not look at it). This renames
that root only; every other answer is moto's own.

3. IAM enforcement, off until `POST /moto-api/reset-auth` with body `0` (moto's switch; a body
of `inf` turns it off again). Then every request is checked, as IAM would check it, against
the identity policies of the IAM user (or assumed role) whose access key signed it, and a
refusal is answered as the service answers it, one `moto_iam: DENY` line to stderr each.
moto's own check is replaced: it is too crude for this (see moto_iam.py, which holds it).

Started by `trove_testkit::moto` with the Python of the virtualenv that holds moto_server;
arguments are moto_server's.
"""

import functools
import sys
import threading

from moto.core import serialize
from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

import moto_iam

_dynamodb_writes = threading.RLock()


def _one_write_at_a_time(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _dynamodb_writes:
            return method(*args, **kwargs)

    return locked


for _name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
    setattr(DynamoDBBackend, _name, _one_write_at_a_time(getattr(DynamoDBBackend, _name)))

_original = serialize.S3Serializer._serialized_result_to_response


def _list_parts_root_as_s3_sends_it(self, resp, result, shape, serialized_result):
    resp = _original(self, resp, result, shape, serialized_result)
    if self.operation_model.name == "ListParts":
        body = resp["body"]
        renamed = body.replace("ListPartsResponse", "ListPartsResult")
        resp["body"] = renamed
    return resp


serialize.S3Serializer._serialized_result_to_response = _list_parts_root_as_s3_sends_it
moto_iam.install()

if __name__ == "__main__":
    sys.exit(main())
