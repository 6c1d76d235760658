"""Self-test of moto_server.py's IAM enforcement (moto_iam.py).

Run from the repository root:  .venv/bin/python shared/testkit/moto_iam_test.py
Starts the launcher on a free port, creates fixtures and IAM users with enforcement off
(dummy keys), turns enforcement on (POST /moto-api/reset-auth, body 0), and checks what each
narrowed user may and may not do. Prints `ok <check>` per check; exits 1 on any failure.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
REGION, ACCOUNT = "us-east-1", "123456789012"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t"
BUCKET = "trove-b"
B = f"arn:aws:s3:::{BUCKET}"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:"
SM = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"

failures: list[str] = []


def check(name: str, condition: bool, detail: object = "") -> None:
    if condition:
        print(f"ok {name}")
    else:
        print(f"FAIL {name}: {detail}")
        failures.append(name)


def error(call, *args, **kwargs):
    """(code, HTTP status) of a refused call, None when it succeeds."""
    try:
        call(*args, **kwargs)
        return None
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


def allow(action, resource, condition=None, effect="Allow"):
    statement = {"Effect": effect, "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


LEADING = lambda *patterns: {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)}}  # noqa: E731

POLICIES = {
    "admin": [allow("*", "*")],
    "ddb": [
        allow(["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
               "dynamodb:ConditionCheckItem", "dynamodb:GetItem"], TABLE,
              LEADING("APIKEY#*", "T#*#GRANTS")),
        allow("dynamodb:Query", [TABLE, f"{TABLE}/index/*"], LEADING("T#*")),
        allow("dynamodb:DeleteItem", "*",
              {"StringEquals": {"dynamodb:LeadingKeys": "APIKEY#keep"}}, effect="Deny"),
    ],
    "scanner": [
        allow("dynamodb:Scan", TABLE, LEADING("T#*")),
        allow("dynamodb:DescribeTable", TABLE,
              {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["*"]}}),
    ],
    "reader": [allow("s3:GetObject", f"{B}/blobs/*")],
    "lister": [
        allow("s3:GetObject", f"{B}/blobs/*"),
        allow("s3:ListBucket", B, {"StringLike": {"s3:prefix": ["blobs/*"]}}),
    ],
    "uploader": [allow(["s3:PutObject", "s3:AbortMultipartUpload"], f"{B}/incoming/*")],
    "copier": [allow("s3:PutObject", f"{B}/incoming/*")],
    "copier2": [allow("s3:PutObject", f"{B}/incoming/*"), allow("s3:GetObject", f"{B}/blobs/*")],
    "deleter": [allow("s3:DeleteObject", f"{B}/incoming/*")],
    "sender": [allow("sqs:SendMessage", QUEUE + "q1")],
    "starter": [
        allow("states:StartExecution", SM + "sm1"),
        allow("states:DescribeExecution", f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sm1:*"),
    ],
    "secrets": [
        allow("secretsmanager:GetSecretValue",
              f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:trove/x/*"),
    ],
    "odd": [
        allow("dynamodb:GetItem", TABLE,
              {"StringEqualsIgnoreCase": {"dynamodb:LeadingKeys": "apikey#1"}}),
    ],
}


def evaluator_checks() -> None:
    """moto_iam.evaluate on its own: the operators and elements the server tests do not reach."""
    sys.path.insert(0, HERE)
    import moto_iam

    def verdict(statement, action="dynamodb:GetItem", resource=TABLE, context=None, document=None):
        document = document or json.dumps({"Version": "2012-10-17", "Statement": statement})
        return moto_iam.evaluate([document], "dynamodb", (action, resource, context or {}))

    keys = lambda *v: {"dynamodb:LeadingKeys": list(v)}  # noqa: E731
    cond = lambda c: allow("dynamodb:*", "*", c)  # noqa: E731
    check("eval: Statement as a dict, Action as a string", verdict(allow("dynamodb:GetItem", TABLE)) is None)
    check("eval: actions match case-insensitively", verdict(allow("DynamoDB:getitem", TABLE)) is None)
    check("eval: resources match case-sensitively", verdict(allow("*", TABLE.upper())) == "no allow")
    check("eval: URL-encoded document", verdict(None, document=urllib.parse.quote(json.dumps(
        {"Version": "2012-10-17", "Statement": [allow("*", "*")]}))) is None)
    check("eval: NotAction", verdict({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}) is None
          and verdict({"Effect": "Allow", "NotAction": "dynamodb:Get*", "Resource": "*"}) == "no allow")
    check("eval: NotResource", verdict({"Effect": "Allow", "Action": "*", "NotResource": TABLE}) == "no allow"
          and verdict({"Effect": "Allow", "Action": "*", "NotResource": TABLE + "/index/*"}) is None)
    check("eval: a wildcard stays within its ARN part", verdict(allow("*", "arn:aws:dynamodb:*:*:table/t")) is None
          and verdict(allow("*", "arn:aws:dynamodb:us-east-1:*:table/x*")) == "no allow")
    check("eval: a resource pattern that is not an ARN denies",
          verdict(allow("*", "arn:aws:dynamodb:*:table/t")).startswith("unsupported"))
    check("eval: StringEquals on an absent key fails", verdict(cond({"StringEquals": keys("a")})) == "no allow")
    check("eval: StringNotLike on an absent key holds", verdict(cond({"StringNotLike": keys("a*")})) is None)
    check("eval: StringNotLike refuses a matching value", verdict(cond({"StringNotLike": keys("a*")}), context=keys("ab")) == "no allow")
    check("eval: StringNotEquals allows another value", verdict(cond({"StringNotEquals": keys("a")}), context=keys("b")) is None)
    check("eval: StringLikeIfExists on an absent key holds", verdict(cond({"StringLikeIfExists": keys("a*")})) is None)
    check("eval: ForAllValues needs every value to match",
          verdict(cond({"ForAllValues:StringLike": keys("a*")}), context=keys("a1", "b1")) == "no allow"
          and verdict(cond({"ForAllValues:StringLike": keys("a*", "b*")}), context=keys("a1", "b1")) is None)
    check("eval: ForAnyValue needs one value to match",
          verdict(cond({"ForAnyValue:StringEquals": keys("b1")}), context=keys("a1", "b1")) is None
          and verdict(cond({"ForAnyValue:StringEquals": keys("c1")}), context=keys("a1", "b1")) == "no allow")
    check("eval: ArnLike / ArnEquals on aws:PrincipalArn", verdict(
        cond({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/fn-*"}}),
        context={"aws:PrincipalArn": ["arn:aws:iam::123456789012:user/fn-api"]}) is None and verdict(
        cond({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:user/other"}}),
        context={"aws:PrincipalArn": ["arn:aws:iam::123456789012:user/fn-api"]}) == "no allow")
    check("eval: Bool", verdict(cond({"Bool": {"aws:SecureTransport": True}}), context={"aws:SecureTransport": ["true"]}) is None)
    check("eval: Null", verdict(cond({"Null": keys("true")})) is None and verdict(cond({"Null": keys("false")})) == "no allow")
    check("eval: explicit Deny wins", verdict([allow("*", "*"), allow("dynamodb:Get*", TABLE, effect="Deny")]) == "explicit deny")
    numeric = {"NumericLessThan": {"dynamodb:LeadingKeys": "5"}}
    check("eval: an unsupported operator in an Allow denies", verdict(cond(numeric)).startswith("unsupported"))
    check("eval: an unsupported operator in a Deny denies, even beside an Allow",
          verdict([allow("*", "*"), allow("dynamodb:*", "*", numeric, effect="Deny")]).startswith("unsupported"))
    check("eval: an unsupported Allow decides nothing beside an Allow that applies",
          verdict([allow("*", "*"), cond(numeric)]) is None)
    check("eval: a condition key that is not modelled denies",
          verdict(cond({"StringEquals": {"dynamodb:Attributes": "a"}})).startswith("unsupported"))
    check("eval: a policy variable denies", verdict(allow("*", TABLE + "/${aws:username}")).startswith("unsupported"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    evaluator_checks()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="moto_iam_test.", suffix=".log", delete=False)
    server = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=log,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).read()
                break
            except (urllib.error.URLError, ConnectionError):
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit(f"moto_server did not start; see {log.name}")
                time.sleep(0.1)
        run(endpoint, log.name)
    finally:
        server.kill()  # the launcher we started, by its PID
        server.wait()
    if failures:
        print(f"{len(failures)} FAILED: {', '.join(failures)} (moto's log: {log.name})")
        return 1
    os.unlink(log.name)
    print("all ok")
    return 0


def reset_auth(endpoint: str, count: bytes) -> bytes:
    # The body is read raw: a form content type (urllib's and curl -d's default) makes
    # werkzeug consume it as a form, and moto answers 500 (float('')).
    request = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=count, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request) as r:
        return r.read()


def run(endpoint: str, log_path: str) -> None:
    def client(service, key=("test", "test"), token=None):
        config = Config(retries={"max_attempts": 1})
        if service == "s3":  # path-style, and SigV4 for presigned URLs too
            config = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"},
                            signature_version="s3v4")
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                            aws_access_key_id=key[0], aws_secret_access_key=key[1],
                            aws_session_token=token, config=config)

    # --- enforcement off: moto as before, any dummy key --------------------------------
    dummy_ddb = client("dynamodb")
    check("enforcement off: dummy keys test/test work", "TableNames" in dummy_ddb.list_tables())
    dummy_ddb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "gsi1pk", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "gsi1",
                                 "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    dummy_s3 = client("s3")
    dummy_s3.create_bucket(Bucket=BUCKET)
    dummy_s3.put_object(Bucket=BUCKET, Key="blobs/a", Body=b"blob a")
    dummy_s3.put_object(Bucket=BUCKET, Key="incoming/gone", Body=b"to delete")
    dummy_s3.put_object(Bucket=BUCKET, Key="tmp/x", Body=b"x")
    deleted = dummy_s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "tmp/x"}]})
    check("enforcement off: DeleteObjects as before", [d["Key"] for d in deleted["Deleted"]] == ["tmp/x"], deleted)
    sqs = client("sqs")
    q1 = sqs.create_queue(QueueName="q1")["QueueUrl"]
    q2 = sqs.create_queue(QueueName="q2")["QueueUrl"]
    sfn = client("stepfunctions")
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    for name in ("sm1", "sm2"):
        sfn.create_state_machine(name=name, definition=definition,
                                 roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn")
    sm = client("secretsmanager")
    sm.create_secret(Name="trove/x/one", SecretString="one")
    sm.create_secret(Name="trove/y/two", SecretString="two")

    iam = client("iam")
    keys = {}
    for user, statements in POLICIES.items():
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
        k = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = (k["AccessKeyId"], k["SecretAccessKey"])
    iam.create_user(UserName="managed")  # a customer managed policy, attached
    arn = iam.create_policy(PolicyName="send-q1", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow("sqs:SendMessage", QUEUE + "q1")]}))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="managed", PolicyArn=arn)
    k = iam.create_access_key(UserName="managed")["AccessKey"]
    keys["managed"] = (k["AccessKeyId"], k["SecretAccessKey"])
    iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="fn", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow("dynamodb:GetItem", TABLE)]}))

    # --- enforcement on ----------------------------------------------------------------
    answer = reset_auth(endpoint, b"0")
    check("reset-auth 0 turns enforcement on", b'"status": "ok"' in answer, answer)
    check("enforcement on: dummy key refused",
          error(dummy_ddb.list_tables) == ("UnrecognizedClientException", 400),
          error(dummy_ddb.list_tables))

    admin_ddb = client("dynamodb", keys["admin"])
    admin_s3 = client("s3", keys["admin"])
    item = lambda pk, **more: {"pk": {"S": pk}, **{k: {"S": v} for k, v in more.items()}}  # noqa: E731

    # DynamoDB: LeadingKeys
    ddb = client("dynamodb", keys["ddb"])
    check("dynamodb PutItem allowed by LeadingKeys", error(ddb.put_item, TableName="t", Item=item("APIKEY#1", gsi1pk="T#9")) is None)
    check("dynamodb PutItem refused outside LeadingKeys (400 AccessDeniedException)",
          error(ddb.put_item, TableName="t", Item=item("OTHER#1")) == ("AccessDeniedException", 400),
          error(ddb.put_item, TableName="t", Item=item("OTHER#1")))
    check("dynamodb PutItem by table ARN as TableName", error(ddb.put_item, TableName=TABLE, Item=item("T#1#GRANTS")) is None)
    refused = error(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": "t", "Item": item("APIKEY#2")}},
        {"Update": {"TableName": "t", "Key": item("OTHER#2"), "UpdateExpression": "SET a = :a",
                    "ExpressionAttributeValues": {":a": {"S": "x"}}}},
    ])
    check("dynamodb TransactWriteItems with one forbidden item refused", refused == ("AccessDeniedException", 400), refused)
    check("refused transaction wrote nothing", "Item" not in admin_ddb.get_item(TableName="t", Key=item("APIKEY#2")))
    check("dynamodb TransactWriteItems Put + ConditionCheck allowed", error(ddb.transact_write_items, TransactItems=[
        {"Put": {"TableName": "t", "Item": item("APIKEY#3")}},
        {"ConditionCheck": {"TableName": "t", "Key": item("T#1#GRANTS"), "ConditionExpression": "attribute_exists(pk)"}},
    ]) is None)
    query = lambda pk, index=None: error(ddb.query, TableName="t", **({"IndexName": index} if index else {}), KeyConditionExpression="#k = :v", ExpressionAttributeNames={"#k": "gsi1pk" if index else "pk"}, ExpressionAttributeValues={":v": {"S": pk}})  # noqa: E731
    check("dynamodb Query allowed by LeadingKeys", query("T#1#GRANTS") is None, query("T#1#GRANTS"))
    check("dynamodb Query refused by LeadingKeys", query("APIKEY#1") == ("AccessDeniedException", 400), query("APIKEY#1"))
    check("dynamodb Query on index allowed by its key", query("T#9", "gsi1") is None, query("T#9", "gsi1"))
    check("dynamodb Query on index refused by its key", query("X#9", "gsi1") == ("AccessDeniedException", 400))
    check("dynamodb explicit Deny wins over Allow", error(ddb.delete_item, TableName="t", Key=item("APIKEY#keep")) == ("AccessDeniedException", 400))
    check("dynamodb DeleteItem allowed", error(ddb.delete_item, TableName="t", Key=item("APIKEY#3")) is None)
    check("dynamodb Scan refused without dynamodb:Scan", error(ddb.scan, TableName="t") == ("AccessDeniedException", 400))
    scanner = client("dynamodb", keys["scanner"])
    check("dynamodb Scan: ForAllValues on absent LeadingKeys holds", error(scanner.scan, TableName="t") is None)
    check("dynamodb DescribeTable: ForAnyValue on absent key fails", error(scanner.describe_table, TableName="t") == ("AccessDeniedException", 400))

    # S3: GetObject of a missing key, ListBucket with s3:prefix
    reader, lister = client("s3", keys["reader"]), client("s3", keys["lister"])
    check("s3 GetObject allowed", reader.get_object(Bucket=BUCKET, Key="blobs/a")["Body"].read() == b"blob a")
    check("s3 GetObject of a missing key without s3:ListBucket: 403",
          error(reader.get_object, Bucket=BUCKET, Key="blobs/nope") == ("AccessDenied", 403),
          error(reader.get_object, Bucket=BUCKET, Key="blobs/nope"))
    check("s3 HeadObject of a missing key without s3:ListBucket: 403",
          error(reader.head_object, Bucket=BUCKET, Key="blobs/nope") == ("403", 403))
    check("s3 GetObject outside the policy: 403", error(reader.get_object, Bucket=BUCKET, Key="incoming/gone") == ("AccessDenied", 403))
    check("s3 GetObject of a missing key with s3:ListBucket: 404",
          error(lister.get_object, Bucket=BUCKET, Key="blobs/nope") == ("NoSuchKey", 404),
          error(lister.get_object, Bucket=BUCKET, Key="blobs/nope"))
    check("s3 HeadObject of a missing key with s3:ListBucket: 404", error(lister.head_object, Bucket=BUCKET, Key="blobs/nope") == ("404", 404))
    check("s3 ListObjectsV2 allowed by s3:prefix", error(lister.list_objects_v2, Bucket=BUCKET, Prefix="blobs/") is None)
    check("s3 ListObjectsV2 refused by s3:prefix", error(lister.list_objects_v2, Bucket=BUCKET, Prefix="incoming/") == ("AccessDenied", 403))
    check("s3 ListObjectsV2 without prefix: s3:prefix is \"\"", error(lister.list_objects_v2, Bucket=BUCKET) == ("AccessDenied", 403))

    # S3: presigned URLs are checked for their signer
    def presigned(key_pair, method, key, body=None):
        signer = client("s3", key_pair)
        url = signer.generate_presigned_url(method, Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300)
        # An explicit content type: urllib's default (a form) makes moto's server read the
        # body as a form and store an empty object.
        request = urllib.request.Request(url, data=body, method="PUT" if body is not None else "GET",
                                         headers={"Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    status, _ = presigned(keys["uploader"], "put_object", "incoming/p", b"presigned")
    check("s3 presigned PUT allowed for its signer", status == 200, status)
    check("s3 presigned PUT wrote the object", admin_s3.get_object(Bucket=BUCKET, Key="incoming/p")["Body"].read() == b"presigned")
    status, body = presigned(keys["uploader"], "put_object", "blobs/p", b"presigned")
    check("s3 presigned PUT refused elsewhere", status == 403 and b"AccessDenied" in body, (status, body))
    status, body = presigned(("AKIAUNKNOWNUNKNOWN00", "x"), "put_object", "incoming/q", b"x")
    check("s3 presigned PUT by an unknown key refused", status == 403 and b"InvalidAccessKeyId" in body, (status, body))
    status, body = presigned(keys["reader"], "get_object", "blobs/a")
    check("s3 presigned GET allowed for its signer", (status, body) == (200, b"blob a"), status)

    # S3: CopyObject reads the source; multipart; DeleteObjects key by key
    copy = lambda who: error(client("s3", keys[who]).copy_object, Bucket=BUCKET, Key="incoming/c", CopySource={"Bucket": BUCKET, "Key": "blobs/a"})  # noqa: E731
    check("s3 CopyObject refused without s3:GetObject on the source", copy("copier") == ("AccessDenied", 403), copy("copier"))
    check("s3 CopyObject allowed with s3:GetObject on the source", copy("copier2") is None, copy("copier2"))
    uploader = client("s3", keys["uploader"])
    upload = uploader.create_multipart_upload(Bucket=BUCKET, Key="incoming/m")["UploadId"]
    part = uploader.upload_part(Bucket=BUCKET, Key="incoming/m", UploadId=upload, PartNumber=1, Body=b"m" * 10)
    check("s3 ListParts refused without s3:ListMultipartUploadParts",
          error(uploader.list_parts, Bucket=BUCKET, Key="incoming/m", UploadId=upload) == ("AccessDenied", 403))
    check("s3 multipart upload allowed by s3:PutObject", error(
        uploader.complete_multipart_upload, Bucket=BUCKET, Key="incoming/m", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}) is None)
    upload = uploader.create_multipart_upload(Bucket=BUCKET, Key="incoming/n")["UploadId"]
    check("s3 AbortMultipartUpload allowed", error(uploader.abort_multipart_upload, Bucket=BUCKET, Key="incoming/n", UploadId=upload) is None)
    check("s3 CreateMultipartUpload refused elsewhere", error(uploader.create_multipart_upload, Bucket=BUCKET, Key="blobs/n") == ("AccessDenied", 403))
    result = client("s3", keys["deleter"]).delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "incoming/gone"}, {"Key": "blobs/a"}]})
    check("s3 DeleteObjects deletes the allowed key", [d["Key"] for d in result.get("Deleted", [])] == ["incoming/gone"], result)
    check("s3 DeleteObjects refuses the other key by key",
          [(e["Key"], e["Code"]) for e in result.get("Errors", [])] == [("blobs/a", "AccessDenied")], result)
    check("s3 DeleteObjects left the refused key", error(admin_s3.head_object, Bucket=BUCKET, Key="blobs/a") is None)

    # SQS, Step Functions, Secrets Manager
    sender = client("sqs", keys["sender"])
    check("sqs SendMessage allowed on its queue", error(sender.send_message, QueueUrl=q1, MessageBody="x") is None)
    check("sqs SendMessageBatch authorised as SendMessage", error(sender.send_message_batch, QueueUrl=q1, Entries=[{"Id": "1", "MessageBody": "x"}]) is None)
    check("sqs SendMessage refused on another queue", error(sender.send_message, QueueUrl=q2, MessageBody="x") == ("AccessDenied", 403),
          error(sender.send_message, QueueUrl=q2, MessageBody="x"))
    managed = client("sqs", keys["managed"])
    check("an attached managed policy allows", error(managed.send_message, QueueUrl=q1, MessageBody="x") is None)
    check("an attached managed policy refuses", error(managed.send_message, QueueUrl=q2, MessageBody="x") == ("AccessDenied", 403))
    starter = client("stepfunctions", keys["starter"])
    try:
        execution = starter.start_execution(stateMachineArn=SM + "sm1")["executionArn"]
        check("states StartExecution allowed on its state machine", True)
        check("states DescribeExecution allowed on its executions", error(starter.describe_execution, executionArn=execution) is None)
    except ClientError as e:
        check("states StartExecution allowed on its state machine", False, e)
    check("states StartExecution refused on another", error(starter.start_execution, stateMachineArn=SM + "sm2") == ("AccessDeniedException", 400))
    secrets = client("secretsmanager", keys["secrets"])
    check("secretsmanager GetSecretValue allowed by name prefix", error(secrets.get_secret_value, SecretId="trove/x/one") is None)
    check("secretsmanager GetSecretValue refused outside the prefix", error(secrets.get_secret_value, SecretId="trove/y/two") == ("AccessDeniedException", 400))
    check("secretsmanager GetSecretValue of a missing secret under the prefix: not found",
          (error(secrets.get_secret_value, SecretId="trove/x/none") or ("",))[0] == "ResourceNotFoundException",
          error(secrets.get_secret_value, SecretId="trove/x/none"))

    # What is not evaluated denies; keys; signatures; roles
    odd = client("dynamodb", keys["odd"])
    check("an unsupported condition operator denies", error(odd.get_item, TableName="t", Key=item("APIKEY#1")) == ("AccessDeniedException", 400))
    unknown = ("AKIAUNKNOWNUNKNOWN00", "x")
    check("unknown key refused by DynamoDB (400 UnrecognizedClientException)",
          error(client("dynamodb", unknown).get_item, TableName="t", Key=item("APIKEY#1")) == ("UnrecognizedClientException", 400))
    check("unknown key refused by S3 (403 InvalidAccessKeyId)",
          error(client("s3", unknown).get_object, Bucket=BUCKET, Key="blobs/a") == ("InvalidAccessKeyId", 403))
    check("unknown key refused by SQS (403 InvalidClientTokenId)",
          error(client("sqs", unknown).send_message, QueueUrl=q1, MessageBody="x") == ("InvalidClientTokenId", 403),
          error(client("sqs", unknown).send_message, QueueUrl=q1, MessageBody="x"))
    wrong_secret = client("dynamodb", (keys["ddb"][0], "not-the-secret"))
    check("a wrong signature is accepted (permissions only, by design)", error(wrong_secret.put_item, TableName="t", Item=item("APIKEY#sig")) is None)
    check("iam (query protocol) ListUsers refused: 403 AccessDenied",
          error(client("iam", keys["reader"]).list_users) == ("AccessDenied", 403), error(client("iam", keys["reader"]).list_users))
    check("iam ListUsers allowed for the admin", error(client("iam", keys["admin"]).list_users) is None)
    check("sts GetCallerIdentity always allowed", client("sts", keys["reader"]).get_caller_identity()["Arn"].endswith(":user/reader"))
    creds = client("sts", keys["admin"]).assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/fn", RoleSessionName="fn-session")["Credentials"]
    role = client("dynamodb", (creds["AccessKeyId"], creds["SecretAccessKey"]), creds["SessionToken"])
    check("assumed role: its role policy allows", error(role.get_item, TableName="t", Key=item("APIKEY#1")) is None)
    check("assumed role: its role policy refuses", error(role.put_item, TableName="t", Item=item("APIKEY#1")) == ("AccessDeniedException", 400))

    # moto's log explains denials
    with open(log_path) as f:
        log = f.read()
    check("denials are logged with principal, action, resource and context",
          'moto_iam: DENY principal=arn:aws:iam::123456789012:user/ddb action=dynamodb:PutItem '
          'resource=arn:aws:dynamodb:us-east-1:123456789012:table/t context={"dynamodb:LeadingKeys": ["OTHER#1"]} reason=no allow' in log)
    check("an unsupported operator is logged", "condition operator StringEqualsIgnoreCase is not supported" in log)

    # enforcement off again
    reset_auth(endpoint, b"inf")
    check("reset-auth inf turns enforcement off", error(dummy_ddb.put_item, TableName="t", Item=item("OTHER#1")) is None)


if __name__ == "__main__":
    sys.exit(main())
