"""A relevance-gateway client built only from the .proto files, for the interop test.

Usage:
    protoc --python_out=GEN -I proto proto/relevance/v1/relevance.proto
    protoc --python_out=GEN -I <grpc-health-check>/proto health/v1/health.proto
    PYTHONPATH=GEN python3 client.py HOST:PORT < cases.json

stdin holds a JSON list of cases, each {"call": "score" | "health", "request": {...}}
with the request in proto JSON form. stdout gets a JSON list with, per case, the
gRPC status code name, its details, the text trailing metadata and the response
(proto JSON form with the .proto field names; null when the call failed).
"""

import json
import sys

import grpc
from google.protobuf import json_format
from health.v1 import health_pb2
from relevance.v1 import relevance_pb2

METHODS = {
    "score": (
        "/relevance.v1.RelevanceService/Score",
        relevance_pb2.ScoreRequest,
        relevance_pb2.ScoreResponse,
    ),
    "health": (
        "/grpc.health.v1.Health/Check",
        health_pb2.HealthCheckRequest,
        health_pb2.HealthCheckResponse,
    ),
}
TIMEOUT_SECONDS = 10


def call(channel, case):
    path, request_type, response_type = METHODS[case["call"]]
    stub = channel.unary_unary(
        path,
        request_serializer=request_type.SerializeToString,
        response_deserializer=response_type.FromString,
    )
    request = json_format.ParseDict(case.get("request", {}), request_type())
    try:
        response, rpc = stub.with_call(request, timeout=TIMEOUT_SECONDS)
    except grpc.RpcError as err:  # also a grpc.Call: code(), details(), trailing_metadata()
        return outcome(err, None)
    return outcome(rpc, response)


def outcome(rpc, response):
    return {
        "code": rpc.code().name,
        "details": rpc.details() or "",
        "trailing_metadata": {
            key: value for key, value in rpc.trailing_metadata() or () if not key.endswith("-bin")
        },
        "response": None
        if response is None
        else json_format.MessageToDict(response, preserving_proto_field_name=True),
    }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: client.py HOST:PORT < cases.json")
    cases = json.load(sys.stdin)
    # The gateway is on loopback: never go through an HTTP proxy from the environment.
    with grpc.insecure_channel(sys.argv[1], options=[("grpc.enable_http_proxy", 0)]) as channel:
        results = [call(channel, case) for case in cases]
    json.dump(results, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
