"""IAM enforcement for moto_server.py: each request is checked against the identity policies
of the IAM user (or assumed role) whose access key signed it, the way IAM would check it.

moto has an enforcement mode of its own (POST /moto-api/reset-auth with body `0`), but it
recomputes SigV4 signatures (the Rust SDK's can differ from moto's recomputation on
streaming/checksum bodies), passes Resource "*" for most services, maps TransactWriteItems to
an action IAM does not have, knows only StringEquals, crashes on presigned S3 URLs, and
answers a JSON-protocol denial (DynamoDB, Step Functions, Secrets Manager) with an XML 403
that JSON SDKs cannot parse. `install()` replaces its check with this one; the switch is
moto's own: enforcement is on while ActionAuthenticatorMixin.request_count >=
settings.INITIAL_NO_AUTH_ACTION_COUNT (reset-auth sets the latter and zeroes the former).

Evaluation: an explicit Deny that applies wins, else some Allow must apply. A statement
applies when its Action/NotAction matches (case-insensitive, `*` and `?`), its
Resource/NotResource matches (ARN part by part, case-sensitive, `*` and `?`; a missing
Resource matches) and every condition holds. Condition operators: StringEquals,
StringNotEquals, StringLike, StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike,
Bool, Null, with ForAllValues:/ForAnyValue: and ...IfExists. Anything this module cannot
evaluate faithfully (another operator, a condition key it does not fill in, a policy
variable, a Resource that is neither `*` nor an ARN) is never a silent allow: in a Deny
statement whose action matches, it denies the request; in an Allow, it denies the request
unless another Allow applies (an Allow can only add permissions), and the denial says why.

Every denial writes one line to stderr, starting `moto_iam: DENY`.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import xmltodict

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError
from moto.iam.access_control import (
    CreateAccessKeyFailure,
    PermissionResult,
    S3IAMRequest,
    create_access_key,
)
from moto.s3.models import FakeBucket, FakeKey, s3_backends
from moto.s3.responses import S3Response
from moto.utilities.utils import get_partition

Check = tuple[str, str, dict[str, list[str]]]  # (action, resource, condition context)


class Unsupported(Exception):
    """A policy element this module cannot evaluate faithfully: the request is denied."""


# --- policy evaluation -------------------------------------------------------------------

_OPERATORS = {
    # base operator -> (value test, negated)
    "stringequals": (lambda pattern, value: value == pattern, False),
    "stringnotequals": (lambda pattern, value: value == pattern, True),
    "stringlike": (lambda pattern, value: _wildcard(pattern, value), False),
    "stringnotlike": (lambda pattern, value: _wildcard(pattern, value), True),
    "arnequals": (lambda pattern, value: _arn_like(pattern, value), False),
    "arnlike": (lambda pattern, value: _arn_like(pattern, value), False),
    "arnnotequals": (lambda pattern, value: _arn_like(pattern, value), True),
    "arnnotlike": (lambda pattern, value: _arn_like(pattern, value), True),
    "bool": (lambda pattern, value: value.lower() == pattern.lower(), False),
}

# Context keys this module fills in. A condition on any other key cannot be evaluated.
_GLOBAL_KEYS = {
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principaltype",
    "aws:username",
    "aws:requestedregion",
    "aws:securetransport",
}
_SERVICE_KEYS = {
    "s3": {"s3:prefix", "s3:delimiter"},
    "dynamodb": {"dynamodb:leadingkeys"},
}


def _wildcard(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(regex, value, flags) is not None


def _arn_like(pattern: str, arn: str) -> bool:
    """ARN matching as IAM does it: each of the six colon-separated parts on its own (the
    last part, the resource, may itself hold colons)."""
    if pattern == "*":
        return True
    p, a = pattern.split(":", 5), arn.split(":", 5)
    if len(p) != 6:  # not an ARN: whether IAM would match it is a guess, so never guess
        raise Unsupported(f"resource pattern {pattern!r} is neither * nor an ARN")
    return len(a) == 6 and all(_wildcard(x, y) for x, y in zip(p, a))


def _as_list(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]


def _condition_holds(operator: str, key: str, patterns: list[str], context: dict) -> bool:
    name = operator.lower()
    quantifier = ""
    for prefix in ("forallvalues:", "foranyvalue:"):
        if name.startswith(prefix):
            quantifier, name = prefix[:-1], name[len(prefix) :]
    if_exists = name.endswith("ifexists") and name != "ifexists"
    if if_exists:
        name = name[: -len("ifexists")]
    values = context.get(key.lower()) or None
    if name == "null" and not quantifier and not if_exists:
        return any((values is None) == (p.lower() == "true") for p in patterns)
    if name not in _OPERATORS:
        raise Unsupported(f"condition operator {operator} is not supported")
    test, negated = _OPERATORS[name]

    def matches(value: str) -> bool:
        return any(test(p, value) for p in patterns)

    if quantifier == "forallvalues":  # vacuously true on an absent key, as in IAM
        return values is None or all(matches(v) != negated for v in values)
    if quantifier == "foranyvalue":
        return values is not None and any(matches(v) != negated for v in values)
    if values is None:
        # IAM: an absent key fails a condition, except a negated operator's or ...IfExists.
        return negated or if_exists
    # A single-valued operator on a multivalued key: true when any value matches (negated:
    # when none does).
    return any(matches(v) for v in values) != negated


def _statements(document: Any) -> list[dict]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:  # moto keeps documents as sent; a query-protocol client may
            document = json.loads(unquote(document))  # have sent one URL-encoded
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _applies(statement: dict, service: str, action: str, resource: str, context: dict) -> bool:
    if "NotAction" in statement:
        if any(_wildcard(p, action, True) for p in _as_list(statement["NotAction"])):
            return False
    elif not any(_wildcard(p, action, True) for p in _as_list(statement.get("Action", []))):
        return False
    for element, wanted in (("Resource", True), ("NotResource", False)):
        if element in statement:
            patterns = _as_list(statement[element])
            if any("${" in p for p in patterns):
                raise Unsupported(f"policy variable in {element} {patterns}")
            if any(_arn_like(p, resource) for p in patterns) != wanted:
                return False
    known = _GLOBAL_KEYS | _SERVICE_KEYS.get(service, set())
    for operator, block in (statement.get("Condition") or {}).items():
        for key, raw in block.items():
            patterns = _as_list(raw)
            if key.lower() not in known:
                raise Unsupported(f"condition key {key} is not modelled ({operator})")
            if any("${" in p for p in patterns):
                raise Unsupported(f"policy variable in condition {operator} {key}")
            if not _condition_holds(operator, key, patterns, context):
                return False
    return True


def evaluate(documents: list[Any], service: str, check: Check, principal_context: dict | None = None) -> str | None:
    """None when the check is allowed, else why it is not. principal_context: the global
    keys (aws:...) of the request, added to the check's own context."""
    action, resource, context = check
    context = {k.lower(): v for k, v in {**(principal_context or {}), **context}.items()}
    allowed, unsupported = False, None
    for document in documents:
        for statement in _statements(document):
            try:
                if not _applies(statement, service, action, resource, context):
                    continue
            except Unsupported as e:
                if statement.get("Effect") == "Deny":  # it might apply: deny
                    return f"unsupported policy element in a Deny, denied: {e}"
                # An Allow can only add permissions: it decides nothing when another Allow
                # applies, and when none does the request is denied with this reason.
                unsupported = unsupported or f"unsupported policy element in an Allow, denied: {e}"
                continue
            if statement.get("Effect") == "Deny":
                return "explicit deny"
            allowed = True
    if allowed:
        return None
    return unsupported or "no allow"


def _document(policy: Any) -> Any:
    if hasattr(policy, "versions"):  # a managed policy: its default version
        return next(v.document for v in policy.versions if v.is_default)
    if isinstance(policy, dict):  # an inline user/group policy
        return policy["policy_document"]
    return policy  # an inline role policy: the document itself


# --- the request's principal --------------------------------------------------------------


def _credential(resp: Any) -> tuple[str, str | None, dict[str, Any]] | None:
    """(access key id, credential-scope region, headers for moto's key lookup), from the
    Authorization header or a presigned URL's query."""
    header = resp.headers.get("Authorization", "")
    match = re.search(r"Credential=([^/,\s]+)/[^/]*/([^/]*)/", header)
    if match:
        return match.group(1), match.group(2), resp.headers
    query = parse_qs(urlparse(resp.uri).query, keep_blank_values=True)
    if "X-Amz-Credential" in query:
        parts = query["X-Amz-Credential"][0].split("/")
        headers = {}
        if "X-Amz-Security-Token" in query:
            headers["X-Amz-Security-Token"] = query["X-Amz-Security-Token"][0]
        return parts[0], parts[2] if len(parts) > 2 else None, headers
    match = re.match(r"AWS ([^:]+):", header)  # SigV2
    if match:
        return match.group(1), None, resp.headers
    if "AWSAccessKeyId" in query:
        return query["AWSAccessKeyId"][0], None, {}
    return None


def _principal_context(principal: Any, account: str, region: str) -> dict[str, list[str]]:
    context = {
        "aws:PrincipalAccount": [account],
        "aws:RequestedRegion": [region],
        # Production clients (the SDK in a Lambda) always use HTTPS; the tests' plain HTTP
        # to moto stands for it.
        "aws:SecureTransport": ["true"],
    }
    if hasattr(principal, "_owner_user_name"):
        context.update({
            "aws:PrincipalArn": [principal.arn],
            "aws:PrincipalType": ["User"],
            "aws:username": [principal._owner_user_name],
        })
    else:  # an assumed role: aws:PrincipalArn is the role's ARN, not the session's
        try:
            role_arn = principal.backend.get_role(principal._owner_role_name).arn
        except Exception:
            role_arn = principal.arn
        context.update({"aws:PrincipalArn": [role_arn], "aws:PrincipalType": ["AssumedRole"]})
    return context


# --- the checks a request needs -----------------------------------------------------------


def _json_body(resp: Any) -> dict:
    try:
        body = json.loads(resp.raw_body or b"{}")
        return body if isinstance(body, dict) else {}
    except ValueError:
        return {}


def _query_param(resp: Any, name: str) -> str | None:
    """A query-protocol parameter (moto's querystring holds lists; it falls back to the
    headers, whose values are strings)."""
    value = resp.querystring.get(name)
    return (value[0] if value else None) if isinstance(value, list) else value


def _attribute_value(value: Any) -> str | None:
    if isinstance(value, dict) and value:
        v = next(iter(value.values()))
        return v if isinstance(v, str) else json.dumps(v)
    return None


class _Dynamo:
    def __init__(self, resp: Any, region: str, account: str):
        from moto.dynamodb.models import dynamodb_backends

        self.backend = dynamodb_backends[account][resp.region]
        self.prefix = f"arn:{get_partition(region)}:dynamodb:{region}:{account}:table/"

    def table(self, name: str) -> Any:
        try:
            return self.backend.get_table(name)
        except Exception:
            return None

    def arn(self, name: str, index: str | None = None) -> str:
        table = self.table(name)
        base = table.table_arn if table is not None else (
            name if name.startswith("arn:") else self.prefix + name
        )
        return f"{base}/index/{index}" if index else base

    def hash_attr(self, name: str, index: str | None = None) -> str | None:
        table = self.table(name)
        if table is None:
            return None
        if not index:
            return table.hash_key_attr
        for idx in table.indexes + table.global_indexes:
            if idx.name == index:
                return next((k["AttributeName"] for k in idx.schema if k["KeyType"] == "HASH"), None)
        return None

    def leading(self, name: str, items: list[dict]) -> dict[str, list[str]]:
        attr = self.hash_attr(name)
        values = [_attribute_value((item or {}).get(attr)) for item in items] if attr else []
        values = [v for v in values if v is not None]
        return {"dynamodb:LeadingKeys": values} if values else {}

    def query_leading(self, body: dict) -> dict[str, list[str]]:
        # Real IAM evaluates LeadingKeys against the table's partition key. A Query on an
        # index carries only the index's partition key value, so that value is what we
        # evaluate (a policy meant for index queries names patterns of the index key).
        attr = self.hash_attr(body.get("TableName", ""), body.get("IndexName"))
        if not attr:
            return {}
        names = body.get("ExpressionAttributeNames") or {}
        values = body.get("ExpressionAttributeValues") or {}
        found = []
        for a, b in re.findall(r"([#:\w.\-]+)\s*=\s*([#:\w.\-]+)", body.get("KeyConditionExpression") or ""):
            for n, v in ((a, b), (b, a)):
                if names.get(n, n) == attr and v.startswith(":") and v in values:
                    found.append(_attribute_value(values[v]))
        legacy = (body.get("KeyConditions") or {}).get(attr)
        if legacy and legacy.get("ComparisonOperator") == "EQ":
            found += [_attribute_value(v) for v in legacy.get("AttributeValueList", [])]
        found = [v for v in found if v is not None]
        return {"dynamodb:LeadingKeys": found} if found else {}

    def checks(self, op: str, body: dict) -> list[Check]:
        act = lambda name: f"dynamodb:{name}"  # noqa: E731
        if op == "TransactWriteItems":  # IAM authorises each item by its own action
            out = []
            for item in body.get("TransactItems", []):
                for kind, action, field in (
                    ("Put", "PutItem", "Item"),
                    ("Update", "UpdateItem", "Key"),
                    ("Delete", "DeleteItem", "Key"),
                    ("ConditionCheck", "ConditionCheckItem", "Key"),
                ):
                    if kind in item:
                        t = item[kind].get("TableName", "")
                        out.append((act(action), self.arn(t), self.leading(t, [item[kind].get(field)])))
            return out
        if op == "TransactGetItems":
            return [
                (act("GetItem"), self.arn(g["Get"].get("TableName", "")),
                 self.leading(g["Get"].get("TableName", ""), [g["Get"].get("Key")]))
                for g in body.get("TransactItems", []) if "Get" in g
            ]
        if op == "BatchGetItem":
            return [
                (act(op), self.arn(t), self.leading(t, req.get("Keys", [])))
                for t, req in (body.get("RequestItems") or {}).items()
            ]
        if op == "BatchWriteItem":
            # Real IAM checks dynamodb:BatchWriteItem on each table (there is no per-item
            # PutItem/DeleteItem check, unlike TransactWriteItems).
            out = []
            for t, reqs in (body.get("RequestItems") or {}).items():
                items = [
                    r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key")
                    for r in reqs
                ]
                out.append((act(op), self.arn(t), self.leading(t, items)))
            return out
        table = body.get("TableName")
        if op in ("GetItem", "DeleteItem", "UpdateItem", "PutItem"):
            item = body.get("Item") if op == "PutItem" else body.get("Key")
            return [(act(op), self.arn(table or ""), self.leading(table or "", [item]))]
        if op == "Query":
            return [(act(op), self.arn(table or "", body.get("IndexName")), self.query_leading(body))]
        if op == "Scan":  # no LeadingKeys: a ForAllValues condition holds vacuously
            return [(act(op), self.arn(table or "", body.get("IndexName")), {})]
        if table:
            return [(act(op), self.arn(table), {})]
        return [(act(op), body.get("ResourceArn") or "*", {})]


def _s3_checks(resp: Any, action: str, resource: str) -> list[Check]:
    query = parse_qs(urlparse(resp.uri).query, keep_blank_values=True)
    method = resp.method
    partition = resource.split(":")[1]
    bucket_arn = resource.split("/", 1)[0]
    if "/" in resource:  # an object
        if method == "HEAD" and "versionId" in query:
            action = "GetObjectVersion"
        elif method == "GET" and "attributes" in query:
            action = "GetObjectAttributes"
        checks: list[Check] = [(f"s3:{action}", resource, {})]
        source = resp.headers.get("x-amz-copy-source")
        if method == "PUT" and source:  # CopyObject / UploadPartCopy: read the source too
            source, _, source_query = unquote(source).lstrip("/").partition("?")
            read = "GetObjectVersion" if "versionId=" in source_query else "GetObject"
            checks.append((f"s3:{read}", f"arn:{partition}:s3:::{source}", {}))
        return checks
    if method == "HEAD":  # HeadBucket is authorised as s3:ListBucket
        return [("s3:ListBucket", bucket_arn, {})]
    if method == "GET" and action in ("ListBucket", "ListBucketVersions"):
        context = {"s3:prefix": [query.get("prefix", [""])[0]]}
        if "delimiter" in query:
            context["s3:delimiter"] = [query["delimiter"][0]]
        return [(f"s3:{action}", bucket_arn, context)]
    if method == "POST" and "delete" in query:  # DeleteObjects: each key on its own
        return []
    if method == "POST" and action == "PutObject" and "key" in resp.querystring:
        return [("s3:PutObject", f"{bucket_arn}/{resp.querystring['key'][0]}", {})]  # a form upload
    return [(f"s3:{action}", resource, {})]


def _s3_delete_keys(resp: Any) -> list[str]:
    try:
        objects = xmltodict.parse(resp.raw_body)["Delete"].get("Object", [])
    except Exception:
        return []
    objects = objects if isinstance(objects, list) else [objects]
    return [o["Key"] for o in objects if isinstance(o, dict) and "Key" in o]


def _checks(resp: Any, service: str, op: str, resource: str, region: str, account: str) -> list[Check]:
    partition = get_partition(region)
    if service == "dynamodb":
        return _Dynamo(resp, region, account).checks(op, _json_body(resp))
    if service == "sqs":
        # The *Batch calls are authorised as their single-message actions.
        action = {
            "SendMessageBatch": "SendMessage",
            "DeleteMessageBatch": "DeleteMessage",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
        }.get(op, op)
        body = _json_body(resp)
        url = body.get("QueueUrl") or _query_param(resp, "QueueUrl")
        name = body.get("QueueName") or _query_param(resp, "QueueName")
        owner = account
        if url:
            parts = urlparse(url).path.strip("/").split("/") if "://" in url else [url]
            name, owner = parts[-1], parts[-2] if len(parts) > 1 else account
        arn = f"arn:{partition}:sqs:{region}:{owner}:{name}" if name else "*"
        return [(f"sqs:{action}", arn, {})]
    if service == "states":
        body = _json_body(resp)
        arn = body.get("executionArn") or body.get("stateMachineArn") or body.get("resourceArn")
        if not arn and op == "CreateStateMachine" and body.get("name"):
            arn = f"arn:{partition}:states:{region}:{account}:stateMachine:{body['name']}"
        return [(f"states:{op}", arn or "*", {})]
    if service == "secretsmanager":
        body = _json_body(resp)
        from moto.secretsmanager.models import secretsmanager_backends

        secrets = secretsmanager_backends[account][resp.region].secrets

        def secret_arn(secret_id: str) -> str:
            try:
                secret = secrets.get(secret_id)
            except Exception:
                secret = None
            if secret is not None:
                return secret.arn
            if secret_id.startswith("arn:"):
                return secret_id
            return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret_id}"

        if op == "BatchGetSecretValue" and body.get("SecretIdList"):
            return [(f"secretsmanager:{op}", "*", {})] + [
                ("secretsmanager:GetSecretValue", secret_arn(s), {}) for s in body["SecretIdList"]
            ]
        secret_id = body.get("SecretId") or (body.get("Name") if op == "CreateSecret" else None)
        return [(f"secretsmanager:{op}", secret_arn(secret_id) if secret_id else "*", {})]
    return [(f"{service}:{op}", resource, {})]


# --- answers -------------------------------------------------------------------------------


def _json_protocol(resp: Any) -> bool:
    return "x-amz-json" in resp.headers.get("Content-Type", "") or bool(
        resp.headers.get("X-Amz-Target")
    )


class _JsonError(JsonRESTError):
    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(error_type, message)
        self.code = status
        self.description = json.dumps({"__type": error_type, "Message": message})


def _refuse(resp: Any, iam_request_cls: type, service: str, principal: Any, check: Check | None, reason: str) -> None:
    """Answer as the service does. S3 and query-protocol services: moto's own errors (the
    right shapes). JSON-protocol services: moto's would be an XML 403 that a JSON SDK cannot
    parse; DynamoDB, Step Functions and Secrets Manager send a 400 AccessDeniedException (or
    UnrecognizedClientException), SQS (query-compatible JSON) a 403 with x-amzn-query-error."""
    request = object.__new__(iam_request_cls)
    request._data, request._service = resp.data, service
    request._access_key = principal
    request._action = check[0] if check else f"{service}:{resp._get_action()}"
    bad_key = reason in ("InvalidId", "InvalidToken")
    if iam_request_cls is S3IAMRequest or not _json_protocol(resp):
        if bad_key:
            request._raise_invalid_access_key(reason)
        request._raise_access_denied()
    resp.response_headers["Content-Type"] = resp.headers.get("Content-Type") or "application/x-amz-json-1.0"
    if service == "sqs":
        code = "InvalidClientTokenId" if bad_key else "AccessDenied"
        resp.response_headers["x-amzn-query-error"] = f"{code};Sender"
        status = 403
    else:
        code, status = ("UnrecognizedClientException" if bad_key else "AccessDeniedException"), 400
    if bad_key:
        raise _JsonError(status, f"com.amazon.coral.service#{code}", "The security token included in the request is invalid.")
    action, resource, _ = check
    why = (
        "with an explicit deny in an identity-based policy"
        if reason == "explicit deny"
        else f"because no identity-based policy allows the {action} action"
    )
    message = f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {why}"
    raise _JsonError(status, "com.amazon.coral.service#AccessDeniedException", message)


def _log(principal: str, check: Check | None, reason: str) -> None:
    action, resource, context = check or ("-", "-", {})
    sys.stderr.write(
        f"moto_iam: DENY principal={principal} action={action} resource={resource} "
        f"context={json.dumps(context, sort_keys=True)} reason={reason}\n"
    )
    sys.stderr.flush()


# --- the hooks -----------------------------------------------------------------------------

_delete_denied = threading.local()


def _authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    """Replaces ActionAuthenticatorMixin._authenticate_and_authorize_action."""
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    if urlparse(self.uri).path.startswith("/moto-api/") or self.method == "OPTIONS":
        return  # moto's own API; CORS preflights are never signed
    s3 = iam_request_cls is S3IAMRequest
    credential = _credential(self)
    header = self.headers.get("Authorization", "")
    scope = re.search(r"Credential=[^/]+/[^/]*/[^/]*/([^/]+)/", header)
    service = "s3" if s3 else (scope.group(1) if scope else self.service_name)
    if credential is None:  # unsigned: no identity policy applies to an anonymous caller
        _log("anonymous", None, "unsigned request")
        if s3:
            _refuse(self, iam_request_cls, service, None, None, "anonymous")
        if _json_protocol(self):
            raise _JsonError(400, "com.amazon.coral.service#MissingAuthenticationTokenException",
                             "Request is missing Authentication Token")
        _refuse(self, iam_request_cls, service, None, None, "InvalidId")
    key_id, region, headers = credential
    region = region or self.region
    account = self.current_account
    action = self.data.get("Action") if s3 else self._get_action()
    if isinstance(action, list):
        action = action[0]
    if s3:
        checks = _s3_checks(self, action, resource)
    else:
        checks = _checks(self, service, action, resource, region, account)
    # No signature check: this is about permissions. The SDK signs, and moto's recomputation
    # of SigV4 can disagree with it on streaming/checksum bodies; a wrong secret is accepted.
    try:
        principal = create_access_key(account, get_partition(region), key_id, headers)
    except CreateAccessKeyFailure as e:
        first = checks[0] if checks else None
        _log(f"unknown-key:{key_id}", first, f"invalid access key ({e.reason})")
        _refuse(self, iam_request_cls, service, None, first, e.reason)
    documents = [_document(p) for p in principal.collect_policies()]
    global_context = _principal_context(principal, account, region)
    for check in checks:
        if check[0].lower() == "sts:getcalleridentity":
            continue  # always allowed, even under an explicit Deny
        reason = evaluate(documents, service, check, global_context)
        if reason:
            _log(principal.arn, check, reason)
            _refuse(self, iam_request_cls, service, principal, check, reason)
    if s3 and self.method == "POST" and "delete" in parse_qs(urlparse(self.uri).query, keep_blank_values=True):
        # DeleteObjects: S3 refuses each key it may not delete with a per-key AccessDenied
        # and deletes the rest (see _delete_keys_per_key below).
        bucket_arn = resource.split("/", 1)[0]
        denied = set()
        for key in _s3_delete_keys(self):
            check = ("s3:DeleteObject", f"{bucket_arn}/{key}", {})
            reason = evaluate(documents, service, check, global_context)
            if reason:
                _log(principal.arn, check, reason)
                denied.add(check[1])
        self._moto_iam_denied_deletes = denied
    versioned = "versionId" in parse_qs(urlparse(self.uri).query)
    if s3 and self.method in ("GET", "HEAD") and action == "GetObject" and "/" in resource and not versioned:
        # A missing key answers 404 only to whom may list the bucket; to others S3 says 403,
        # so that existence does not leak.
        bucket_arn, key = resource.split("/", 1)
        bucket = s3_backends[account][get_partition(region)].buckets.get(bucket_arn.split(":::", 1)[1])
        if bucket is not None and not isinstance(bucket.keys.get(key), FakeKey):
            check = ("s3:ListBucket", bucket_arn, {"s3:prefix": [key]})
            reason = evaluate(documents, service, check, global_context)
            if reason:
                _log(principal.arn, check, f"{reason} (GetObject of a missing key answers 403)")
                _refuse(self, iam_request_cls, service, principal, check, reason)


_original_delete_keys = S3Response._bucket_response_delete_keys
_original_get_permission = FakeBucket.get_permission


def _delete_keys_per_key(self: Any, bucket_name: str, authenticated: bool = True) -> Any:
    _delete_denied.arns = getattr(self, "_moto_iam_denied_deletes", set())
    try:
        return _original_delete_keys(self, bucket_name, authenticated)
    finally:
        _delete_denied.arns = set()


def _get_permission(self: Any, action: str, resource: str) -> Any:
    # moto's DeleteObjects asks the bucket about each key; a key our check refused is DENIED.
    if action == "s3:DeleteObject" and resource in getattr(_delete_denied, "arns", ()):
        return PermissionResult.DENIED
    return _original_get_permission(self, action, resource)


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize
    S3Response._bucket_response_delete_keys = _delete_keys_per_key
    FakeBucket.get_permission = _get_permission
