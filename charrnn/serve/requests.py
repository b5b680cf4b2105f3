"""The JSON bodies the API takes and gives, validated by pydantic: strict types (a number where a
number is meant, not a string of one), no unknown fields (a misspelt one is named in the error),
and the ranges `charrnn sample` and `charrnn perplexity` hold their options to. These models are
also the OpenAPI schema at /docs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from charrnn.generate.sampling import SampleConfig
from charrnn.serve.config import MAX_SCORE_TEXTS, MAX_SERVE_BEAM, MAX_TEXT_CHARS

Unknown = Literal["skip", "error"]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]  # a prime, a context, a candidate
AT_MOST = f"at most {MAX_TEXT_CHARS:,} characters"


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SampleRequest(Request):
    prime: Text = Field(
        "",
        description=f"Text to start from (not repeated in the answer; {AT_MOST}); none: a new line.",
    )
    length: int = Field(
        500, ge=0, description="Characters to generate, at most the server's max_length (GET /api/info)."
    )
    temperature: float = Field(
        SampleConfig.temperature,
        ge=0,
        allow_inf_nan=False,
        description="0 = greedy: the likeliest character.",
    )
    top_k: int | None = Field(None, ge=1, description="Draw only among the k likeliest characters.")
    top_p: float | None = Field(None, gt=0, le=1, description="Draw only within the smallest set of mass p.")
    seed: int | None = Field(
        None,
        ge=-(2**63),
        lt=2**64,
        description="The same seed gives the same text (that of `charrnn sample --seed`); none: a random "
        "one, returned in the X-Charrnn-Seed header.",
    )
    stop: str | None = Field(None, min_length=1, description="End after the first occurrence of this text.")
    skip_unknown: bool = Field(False, description="Drop prime characters outside the vocabulary, not refuse.")
    beam: int | None = Field(
        None,
        ge=1,
        le=MAX_SERVE_BEAM,
        description="Beam search with this many hypotheses: the most probable text they find, sent whole "
        "when found (temperature, top_k, top_p and seed do not apply).",
    )


class PerplexityRequest(Request):
    text: str = Field(description="The text to measure: every character after the first is predicted.")
    unknown: Unknown = Field(
        "skip", description="Characters outside the vocabulary: skip (and count) or error."
    )
    baselines: bool = Field(False, description="Also gzip, bz2 and lzma bits per character of the text.")


class PerplexityAnswer(BaseModel):
    chars_read: int
    chars_scored: int = Field(description="Characters predicted: every known one after the first.")
    skipped_unknown: int
    skipped_chars: str = Field(description="The distinct characters skipped, sorted.")
    total_nats: float
    nats_per_char: float
    bits_per_char: float
    perplexity: float
    seconds: float
    baselines_bits_per_char: dict[str, float]


class ScoreRequest(Request):
    texts: list[Text] = Field(
        min_length=1,
        max_length=MAX_SCORE_TEXTS,
        description=f"The candidates to rank ({AT_MOST} each).",
    )
    context: Text = Field(
        "", description=f"Text every candidate follows ({AT_MOST}); none: the start of a line."
    )


class ScoredText(BaseModel):
    rank: int = Field(description="1 = the most probable.")
    text: str
    log_prob_nats: float
    log_prob_bits: float
    bits_per_char: float


class ScoreAnswer(BaseModel):
    context: str
    candidates: list[ScoredText]


class SurpriseRequest(Request):
    text: Text = Field(description=f"The text to colour, character by character ({AT_MOST}).")
    context: Text = Field("", description=f"Text it follows ({AT_MOST}); none: the start of a line.")
    unknown: Unknown = Field(
        "skip", description="Characters outside the vocabulary: kept uncoloured, or error."
    )


class CharSurpriseAnswer(BaseModel):
    char: str
    bits: float | None = Field(description="−log₂ p(char | the text before it); null: not in the vocabulary.")
    guesses: list[tuple[str, float]] = Field(
        description="The model's 5 likeliest characters in this place, with their probabilities."
    )


class SurpriseAnswer(BaseModel):
    chars: list[CharSurpriseAnswer]
    bits_per_char: float | None = Field(description="The mean surprise of the known characters.")
    chars_scored: int = Field(description="Characters with a surprise (those in the vocabulary).")


InfoAnswer = dict[str, Any]
