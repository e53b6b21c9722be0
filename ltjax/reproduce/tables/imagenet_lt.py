"""ImageNet-LT, ResNeXt-50 (for users who have it: --config.dataset.data_dir=/data/imagenet)."""

from ltjax.reproduce.spec import Published
from ltjax.reproduce.spec import Row
from ltjax.reproduce.spec import Table

_DECOUPLING = "Kang et al. 2020 (decoupling), ResNeXt-50, 90 epochs"
_ZOO = "RIDE MODEL_ZOO.md (frank-xwang/RIDE-LongTailRecognition)"

TABLE = Table(
    name="imagenet_lt", title="ImageNet-LT, ResNeXt-50",
    data_note="ImageNet-LT lists (Liu et al.); val = ImageNet-LT_val, test = ImageNet-LT_test",
    rows=(
        Row("ce", "configs/imagenet_lt/ce.py",
            published=Published(44.4, _DECOUPLING, many=65.9, medium=37.5, few=7.7)),
        Row("crt", "configs/imagenet_lt/crt.py", builds_on="ce",
            published=Published(49.6, _DECOUPLING)),
        Row("tau_norm", "configs/imagenet_lt/tau_norm.py", builds_on="ce",
            published=Published(49.4, _DECOUPLING)),
        Row("lws", "configs/imagenet_lt/lws.py", builds_on="ce",
            published=Published(49.9, _DECOUPLING)),
        Row("ride_e3", "configs/imagenet_lt/ride_resnext50_e3.py",
            published=Published(56.3, "SADE README (paper-style RIDE-3)")),
        Row("ride_router", "configs/imagenet_lt/ride_router.py", builds_on="ride_e3",
            published=Published(55.7, _ZOO, many=67.0, medium=52.2, few=36.0)),
        Row("ride_teacher_e6", "configs/imagenet_lt/ride_resnext50_teacher_e6.py",
            published=Published(57.5, _ZOO, many=68.9, medium=54.3, few=36.5)),
        Row("ride_e4_distill", "configs/imagenet_lt/ride_resnext50_e4_distill.py",
            teacher="ride_teacher_e6",
            published=Published(56.8, _ZOO, many=68.3, medium=53.5, few=35.9),
            note="published with routing"),
    ),
    short=(("train.num_epochs", 10), ("optimizer.decay_epochs", (6, 8))),
)
