"""Triton Python backend model: (query, document) pairs -> cross-encoder token tensors.

The first step of the relevance_student ensemble. Each request carries two BYTES tensors of shape
[n, 1], QUERY and DOCUMENT (the gateway sends the query once per document and the model text that it
built from the document's fields). Every pair is tokenized as one sequence pair
(`[CLS] query [SEP] document [SEP]` for a BERT-style tokenizer), truncated and padded to exactly
`max_length` tokens, and returned as three INT64 tensors of shape [n, max_length]: input_ids,
attention_mask and token_type_ids.

Padding to a fixed length rather than to the longest pair of the request keeps every request's tensor
shape identical, so Triton's dynamic batcher in front of the cross-encoder can merge requests from
different gateway batches and replicas (it only merges requests whose shapes match).

Configuration, from config.pbtxt `parameters`:
  max_length      tokens per pair, and the second dimension of every output (must equal their dims)
  tokenizer_file  a Hugging Face `tokenizers` JSON file in the model version directory
  pad_token       the padding token, which must exist in the tokenizer's vocabulary

Needs the `tokenizers` package in the Triton image (deploy/triton/Dockerfile installs it).
"""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer

INPUT_QUERY = "QUERY"
INPUT_DOCUMENT = "DOCUMENT"
OUTPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def _parameter(model_config, key, default=None):
    """A string parameter of config.pbtxt, or `default` when it is not set."""
    value = model_config.get("parameters", {}).get(key, {}).get("string_value")
    if value is None or value == "":
        if default is None:
            raise pb_utils.TritonModelException(f"config.pbtxt: parameter '{key}' is required")
        return default
    return value


def _texts(tensor):
    """A BYTES tensor of shape [n, 1] as n Python strings (invalid UTF-8 replaced, never fatal)."""
    values = tensor.as_numpy().reshape(-1)
    return [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in values]


class TritonPythonModel:
    """The interface Triton's Python backend calls: initialize, execute, finalize."""

    def initialize(self, args):
        model_config = json.loads(args["model_config"])
        self.max_length = int(_parameter(model_config, "max_length"))
        tokenizer_file = _parameter(model_config, "tokenizer_file", "tokenizer.json")
        pad_token = _parameter(model_config, "pad_token", "[PAD]")

        for name in OUTPUT_NAMES:
            output = pb_utils.get_output_config_by_name(model_config, name)
            if output is None:
                raise pb_utils.TritonModelException(f"config.pbtxt: output '{name}' is missing")
            if list(output["dims"]) != [self.max_length]:
                raise pb_utils.TritonModelException(
                    f"config.pbtxt: output '{name}' has dims {output['dims']}, expected [{self.max_length}]"
                )
        self.dtype = pb_utils.triton_string_to_numpy(
            pb_utils.get_output_config_by_name(model_config, "input_ids")["data_type"]
        )

        path = os.path.join(args["model_repository"], args["model_version"], tokenizer_file)
        tokenizer = Tokenizer.from_file(path)
        pad_id = tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise pb_utils.TritonModelException(f"{path}: pad token '{pad_token}' is not in the vocabulary")
        # longest_first trims the longer of query and document first, so a long query cannot push the
        # document out entirely (and a query longer than max_length is not an error).
        tokenizer.enable_truncation(max_length=self.max_length, strategy="longest_first")
        tokenizer.enable_padding(length=self.max_length, pad_id=pad_id, pad_token=pad_token)
        self.tokenizer = tokenizer

    def execute(self, requests):
        # One response per request, in order; a failing request gets an error response of its own
        # so that the other requests of the same dynamic batch are still answered.
        responses = []
        for request in requests:
            try:
                responses.append(self._tokenize(request))
            except Exception as err:  # noqa: BLE001 - reported to the caller, never raised to Triton
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(err))))
        return responses

    def _tokenize(self, request):
        queries = _texts(pb_utils.get_input_tensor_by_name(request, INPUT_QUERY))
        documents = _texts(pb_utils.get_input_tensor_by_name(request, INPUT_DOCUMENT))
        if len(queries) != len(documents):
            raise ValueError(f"{len(queries)} queries but {len(documents)} documents")
        encodings = self.tokenizer.encode_batch(list(zip(queries, documents)))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        tensors = []
        for name in OUTPUT_NAMES:
            array = np.asarray(columns[name], dtype=self.dtype).reshape(len(encodings), self.max_length)
            tensors.append(pb_utils.Tensor(name, array))
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def finalize(self):
        self.tokenizer = None
