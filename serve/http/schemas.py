"""Request and response bodies of the HTTP API (the contract clients code against)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator


def _valid_unicode(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"); they are not text and cannot be tokenized or echoed back.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"contains an unpaired surrogate code point at position {err.start}") from None
    return value


Text = Annotated[str, AfterValidator(_valid_unicode)]
NonEmptyText = Annotated[str, StringConstraints(min_length=1), AfterValidator(_valid_unicode)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _exactly_one(model: BaseModel, single: str, batch: str) -> None:
    given = [name for name in (single, batch) if getattr(model, name) is not None]
    if len(given) != 1:
        raise ValueError(f"give either '{single}' (one) or '{batch}' (a list), not {'both' if given else 'neither'}")


def _one_of(*fields: str) -> dict:
    return {"oneOf": [{"required": [name]} for name in fields]}


# ---- requests ---------------------------------------------------------------
class EntitiesRequest(_Strict):
    """`{"text": ...}` for one document, or `{"texts": [...]}` for several."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of("text", "texts"))
    # Optional but not nullable: a default of None, yet an explicit null is a 422.
    text: Text = Field(None, description="one document; empty text gives no entities")  # type: ignore[assignment]
    texts: list[Text] = Field(None, description="several documents, answered in order")  # type: ignore[assignment]
    format: Literal["kashif", "hf", "displacy"] = Field(
        "kashif",
        description="answer shape per document: kashif `{entities: [{text, label, start, end, score}]}`; "
        "hf, as the Hugging Face Inference API answers token classification, `[{entity_group, score, word, start, end}]`; "
        "displacy, spaCy's manual render format `{text, ents: [{start, end, label}], title}`",
    )
    labels: list[Text] = Field(None, description="keep only entities of these types (e.g. [\"PERS\", \"LOC\"]); default: all")  # type: ignore[assignment]
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="keep only entities scoring at least this")

    @model_validator(mode="after")
    def _one(self) -> "EntitiesRequest":
        _exactly_one(self, "text", "texts")
        return self


class StanceItem(_Strict):
    text: Text = Field(min_length=1, description="the text whose stance is asked; must not be empty")
    target: Text | None = Field(None, description="the claim or target; omitted → the text alone")


class StanceRequest(_Strict):
    """`{"text": ..., "target": ...}` for one pair, or `{"items": [{"text", "target"}, ...]}`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["text"], "not": {"required": ["items"]}},
                {"required": ["items"], "not": {"anyOf": [{"required": ["text"]}, {"required": ["target"]}]}},
            ]
        },
    )
    text: Text = Field(None, min_length=1, description="one text; must not be empty")  # type: ignore[assignment]
    target: Text | None = None
    items: list[StanceItem] = Field(None, description="several (text, target) pairs, answered in order")  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one(self) -> "StanceRequest":
        _exactly_one(self, "text", "items")
        if self.items is not None and "target" in self.model_fields_set:
            raise ValueError("'target' goes inside each item when 'items' is given")
        return self


class ClassifyRequest(_Strict):
    """`{"text": ...}` for one text, or `{"texts": [...]}` for several."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of("text", "texts"))
    text: Text = Field(None, min_length=1, description="one text; must not be empty")  # type: ignore[assignment]
    texts: list[NonEmptyText] = Field(None, description="several texts, answered in order; none may be empty")  # type: ignore[assignment]
    format: Literal["kashif", "hf"] = Field(
        "kashif",
        description="answer shape per text: kashif `{label, scores, truncated}` (+ `labels` from a multi-label model); "
        "hf, as the `text-classification` pipeline answers, `[{label, score}]` best first",
    )
    top_k: int = Field(None, ge=1, description="only the K best labels' scores; default: every label")  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one(self) -> "ClassifyRequest":
        _exactly_one(self, "text", "texts")
        return self


class AnalyzeRequest(_Strict):
    text: Text = Field(description="one document; empty text gives an empty result")
    targets: list[Text] = Field(None, description="claims or targets to judge the text's stance toward")  # type: ignore[assignment]


# ---- responses --------------------------------------------------------------
class EntityOut(BaseModel):
    text: str = Field(description="== the request text[start:end]")
    label: str
    start: int = Field(description="character offset (Unicode code points) into the request text")
    end: int
    score: float


class EntitiesResponse(BaseModel):
    entities: list[EntityOut]


class EntitiesBatchResponse(BaseModel):
    results: list[EntitiesResponse]


class HfEntityOut(BaseModel):
    """One entity as the Hugging Face Inference API gives it (aggregated token classification)."""

    entity_group: str = Field(description="the entity type")
    score: float
    word: str = Field(description="== the request text[start:end]")
    start: int = Field(description="character offset (Unicode code points) into the request text")
    end: int


class HfEntitiesBatchResponse(BaseModel):
    results: list[list[HfEntityOut]] = Field(description="one list per text, in input order")


class DisplacyEnt(BaseModel):
    start: int = Field(description="character offset (Unicode code points) into text")
    end: int
    label: str


class DisplacyDoc(BaseModel):
    """spaCy's manual render format: `displacy.render(doc, style="ent", manual=True)`."""

    text: str = Field(description="the request text")
    ents: list[DisplacyEnt]
    title: str | None = None


class DisplacyBatchResponse(BaseModel):
    results: list[DisplacyDoc] = Field(description="one document per text, in input order")


# What /v1/entities answers, by request format (single text, then `texts`).
ENTITIES_ANSWERS = EntitiesResponse | EntitiesBatchResponse | list[HfEntityOut] | HfEntitiesBatchResponse | DisplacyDoc | DisplacyBatchResponse


class StanceOut(BaseModel):
    label: str
    scores: dict[str, float]
    truncated: bool = Field(description="true when the text was cut to fit the model's window")


class StanceBatchResponse(BaseModel):
    results: list[StanceOut]


class TargetStance(StanceOut):
    target: str


class ClassifyOut(BaseModel):
    label: str = Field(description="the best-scoring label")
    scores: dict[str, float] = Field(description="label → probability, best first (the top_k best when asked)")
    truncated: bool = Field(description="true when the text was cut to fit the model's window")
    labels: list[str] | None = Field(None, description="multi-label models: every label scoring at least the threshold")


class ClassifyBatchResponse(BaseModel):
    results: list[ClassifyOut]


class HfLabelScore(BaseModel):
    """One label as the `text-classification` pipeline gives it."""

    label: str
    score: float


class HfClassifyBatchResponse(BaseModel):
    results: list[list[HfLabelScore]] = Field(description="one list per text, in input order")


# What /v1/classify answers, by request format (single text, then `texts`).
CLASSIFY_ANSWERS = ClassifyOut | ClassifyBatchResponse | list[HfLabelScore] | HfClassifyBatchResponse


class AnalyzeResponse(BaseModel):
    entities: list[EntityOut] = Field(None, description="with a NER model")  # type: ignore[assignment]
    stance: list[TargetStance]
    classify: ClassifyOut | None = Field(None, description="with a text-classification model and a non-empty text")


class ModelOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    task: str
    name: str = Field(description="the model directory's name (a bundle's task directory as bundle/task), or its hub id")
    digest: str = Field(description="short content hash of the model files: changes when the model does")
    source: str | None = Field(None, description="the model's directory on the server; only with --expose-model-paths")
    labels: list[str]
    max_length: int
    backend: str
    precision: str
    reason: str = Field("", description="why this backend and precision run the model (e.g. the CPU has no native bf16 "
                        "and int8 passed its check against fp32)")
    metrics: dict[str, Any] = Field(default_factory=dict)


class ModelsResponse(BaseModel):
    models: list[ModelOut]


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    models: list[str] = Field(default_factory=list, description="tasks served once ready")


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. invalid_request, payload_too_large, overloaded")
    message: str = Field(description="what is wrong, for a person")
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def _error_doc(description: str) -> dict:
    return {"model": ErrorResponse, "description": description}


ERROR_RESPONSES: dict[int | str, dict] = {
    400: _error_doc("invalid JSON or invalid UTF-8"),
    401: _error_doc("missing or wrong API key (only when the server has keys)"),
    404: _error_doc("the model for this route is not loaded"),
    413: _error_doc("body, item count or text length over the server's limits"),
    415: _error_doc("the body is not sent as application/json"),
    422: _error_doc("the body does not match the schema"),
    503: _error_doc("models still loading, queue full (see Retry-After), or shutting down"),
    504: _error_doc("no result within the request timeout"),
}


def document_limits(openapi: dict, max_items: int, max_chars: int) -> dict:
    """Write the server's item and length limits into the request schemas of an
    OpenAPI document (in place). The routes enforce them with a 413."""

    def limit(prop: dict) -> None:
        if prop.get("type") == "string":
            prop["maxLength"] = max_chars
        elif prop.get("type") == "array":
            prop["maxItems"] = max_items
            limit(prop.get("items", {}))
        for option in prop.get("anyOf", []):
            limit(option)

    for name, component in openapi.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") or name == "StanceItem":
            for prop in component.get("properties", {}).values():
                limit(prop)
    return openapi
