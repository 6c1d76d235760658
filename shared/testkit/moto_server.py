"""moto's server, with the one fix Trove's S3 adapter needs from moto 5.2.

moto 5.2 answers S3 ListParts through its generic REST-XML serializer, which names every
document's root "{Operation}Response": <ListPartsResponse>. S3 sends <ListPartsResult>,
and the AWS SDK for Rust refuses any other root (boto3 does not look at it). This renames
that root only; every other answer is moto's own. Started by `trove_testkit::moto` with
the Python of the virtualenv that holds moto_server; arguments are moto_server's.
"""

import sys

from moto.core import serialize
from moto.server import main

_original = serialize.S3Serializer._serialized_result_to_response


def _list_parts_root_as_s3_sends_it(self, resp, result, shape, serialized_result):
    resp = _original(self, resp, result, shape, serialized_result)
    if self.operation_model.name == "ListParts":
        body = resp["body"]
        renamed = body.replace("ListPartsResponse", "ListPartsResult")
        resp["body"] = renamed
    return resp


serialize.S3Serializer._serialized_result_to_response = _list_parts_root_as_s3_sends_it

if __name__ == "__main__":
    sys.exit(main())
