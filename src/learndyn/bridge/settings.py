"""The bridge's settings (``bridge`` in the config), importable without torch: the report job
reads them too."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import from_mapping


@dataclass(frozen=True)
class BridgeConfig:
    """The kernel measurements (``bridge`` in the config)."""

    task: str  # task of every kernel measurement
    models: tuple  # trajectory cells at train.depth / train.width (snapshots saved in training)
    snapshot_every: int = 2  # evaluations between saved snapshots (first and last always kept)
    width_study: str = "width"  # key of train.studies whose widths give the drift exponent
    n: int = 128  # training points of the fixed subsample (the kernel is n x n)
    n_test: int = 128  # test points of the kernel regression
    subsample_seed: int = 0  # seed of the subsample of the training points
    ridge: float = 1.0e-3  # kernel-regression ridge, relative to the mean eigenvalue of K
    bootstrap: int = 2000  # resamples of the bootstrap intervals of the rank correlations
    confidence: float = 0.95  # level of every interval
    alpha: float = 0.05  # family-wise error rate of the bridge family (Holm)
    # the population of architectures: every model that these studies of train.studies train on
    # ``task`` at train.depth / train.width (one unit per architecture, values averaged over seeds)
    population_studies: tuple = ("main", "ablation", "population")
    min_units: int = 15  # fewest architectures of a between-model row (fewer: the row is not run)
    permutations: int = 9999  # random permutations of the permutation tests (exact when fewer)
    # followed model -> its copy trained at the structured model's tuned rate (the common-rate
    # control of the laziness rows; the copy has the same spec and seeds)
    common_rate: dict = field(default_factory=dict)
    ablations: tuple = ()  # models whose kernel change is compared with the structured model's
    # one-parameter families of the population (name -> its architectures): the sensitivity
    # analysis of the between-model tests collapses each to one unit, or leaves it out
    continua: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: dict) -> BridgeConfig:
        out = from_mapping(cls, cfg, "bridge")
        return cls(
            **{
                **out.__dict__,
                "models": tuple(out.models),
                "common_rate": dict(out.common_rate),
                "continua": {k: tuple(v) for k, v in out.continua.items()},
            }
        )

    def __hash__(self):
        return hash(tuple(sorted((k, repr(v)) for k, v in self.__dict__.items())))


@dataclass(frozen=True)
class BridgeClaims:
    """What the bridge reads of ``train.claims``: the structured model and the robustness levels
    of the training half's effects the drift is ranked against."""

    structured: str  # the model every paired comparison of the family is about
    noise_sigma: float  # input-noise level of the "accuracy under noise" effect
    fgsm_eps: float  # FGSM step of the "accuracy under FGSM" effect

    @classmethod
    def from_config(cls, cfg: dict) -> BridgeClaims:
        return from_mapping(cls, cfg, "train.claims")


@dataclass(frozen=True)
class BridgeSettings:
    """Everything a bridge job reads (the workflow's ``get_bridge_settings``): the ``bridge``
    section and what it reads of ``train``."""

    bridge: BridgeConfig
    claims: BridgeClaims
    # train.validation as given: the kernel job builds its ``train.loop.Validation`` (that module
    # imports torch, which the report job must not)
    validation: dict
    batch_size: int  # train.optim.batch_size: steps -> epochs of the snapshots

    @classmethod
    def from_params(cls, params: dict) -> BridgeSettings:
        """From the rules' ``params.bridge``: ``{bridge, validation, batch_size, claims}``."""
        return cls(
            bridge=BridgeConfig.from_config(params["bridge"]),
            claims=BridgeClaims.from_config(params["claims"]),
            validation=dict(params["validation"]),
            batch_size=int(params["batch_size"]),
        )
