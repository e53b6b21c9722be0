"""Decoupled stage 2 on a finished run's feature cache: cRT, LWS, tau-norm, NCM, post-hoc
logit adjustment and RIDE's router, each one entry of `stage.METHODS`.

The classifier functions (`heads`) are re-exported here: `from ltjax import decoupled;
decoupled.crt(...)`.
"""

from ltjax.decoupled.heads import class_means
from ltjax.decoupled.heads import crt
from ltjax.decoupled.heads import lws
from ltjax.decoupled.heads import ncm_logits
from ltjax.decoupled.heads import sgd_on_cached
from ltjax.decoupled.heads import tau_norm_logits
from ltjax.decoupled.heads import tau_normalized_kernel

__all__ = ["class_means", "crt", "lws", "ncm_logits", "sgd_on_cached", "tau_norm_logits",
           "tau_normalized_kernel"]
