"""DLSA ("Constructing Balance from Imbalance", Xu et al., ECCV 2022) on frozen features.

Public functions (see dlsa.md): `mixture_log_prob`, `log_likelihood`, `likelihood_threshold`,
`cluster_prior`; the flow itself is `ltjax.models.flows.build_flow`; the pipeline is
`run_pipeline` (`ltjax.dlsa.pipeline`), the `stage = "dlsa"` entry `ltjax.dlsa.stage.run`.
"""

from ltjax.dlsa.mixture import cluster_posterior
from ltjax.dlsa.mixture import cluster_prior
from ltjax.dlsa.mixture import likelihood_threshold
from ltjax.dlsa.mixture import log_likelihood
from ltjax.dlsa.mixture import mixture_log_prob
from ltjax.dlsa.mixture import nearest_cluster
from ltjax.dlsa.mixture import random_means
from ltjax.dlsa.pipeline import DLSAConfig
from ltjax.dlsa.pipeline import run_pipeline

__all__ = ["cluster_posterior", "cluster_prior", "likelihood_threshold", "log_likelihood",
           "mixture_log_prob", "nearest_cluster", "random_means", "DLSAConfig", "run_pipeline"]
