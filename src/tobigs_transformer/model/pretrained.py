"""TobigsPreTrainedModel: what every tobigs model shares with transformers (weights init, loading, losses, flags)."""

import math
import os
from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from .adaptive import ClusterProjections, ProjectedAdaptiveLogSoftmax
from .checks import check_compute_dtype, check_resizable
from .configuration_tobigs import TobigsConfig, check_local_path
from .finite_weights import check_loaded_weights
from .losses import LOSSES, TOKEN_LOSSES, adaptive_token_cross_entropy, chunked_token_cross_entropy
from .positional_encoding import SinusoidalPositionalEncoding, sinusoidal_table
from .relative_attention import GlobalBiases
from .remote_code import remote_code_fields, save_model_code


class TobigsPreTrainedModel(PreTrainedModel):
    config: TobigsConfig
    config_class = TobigsConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["TobigsEncoderLayer", "TobigsDecoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _can_compile_fullgraph = True
    # Which architectures a head works on; the bare stacks take all three.
    supported_architectures: tuple[str, ...] = ("encoder-decoder", "decoder-only", "encoder-only")
    # Key of `losses.LOSSES` used by `loss_function`.
    loss_kind: str | None = None

    def __init__(self, config: TobigsConfig, *args, **kwargs):
        # The config may have been changed since it was built (`config.d_model = 100`): check it again, with the
        # same errors as at construction, before any layer is sized from it.
        config.validate_architecture()
        if config.architecture not in self.supported_architectures:
            raise ValueError(
                f"{type(self).__name__} does not support architecture={config.architecture!r}; "
                f"it takes {' or '.join(map(repr, self.supported_architectures))}"
            )
        super().__init__(config, *args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        config = self.config
        if config.init_method == "xavier_uniform" and isinstance(module, nn.Linear):
            # Xavier/Glorot uniform as the paper's implementations; a fused projection (W^Q|W^K|W^V stacked) gets the
            # bound of one of its parts, as if they were separate matrices.
            fan_out = module.out_features // getattr(module, "fused_parts", 1)
            bound = math.sqrt(6.0 / (module.in_features + fan_out))
            init.uniform_(module.weight, -bound, bound)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif config.init_method == "xavier_uniform" and isinstance(module, nn.Embedding):
            # fairseq's Transformer: N(0, d_model^-0.5), so that embeddings x sqrt(d_model) have unit scale.
            init.normal_(module.weight, mean=0.0, std=config.d_model**-0.5)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        else:
            super()._init_weights(module)
        if config.scale_residual_init and hasattr(module, "residual_stack_layers"):
            # GPT-2 §2.3: the projections that add into the residual stream (tagged by the layers) start smaller, by
            # 1/sqrt(2 N) for N layers, so the variance of the residual sum does not grow with depth
            # (GPT2PreTrainedModel._init_weights does the same to every c_proj).
            std = config.init_std / math.sqrt(2 * module.residual_stack_layers)
            init.normal_(module.weight, mean=0.0, std=std)
        # Adaptive input and softmax: the authors' projections and cluster logits (their train.py weights_init):
        # normal, cluster biases zero. The tables and output layers are nn.Embedding / nn.Linear, initialised above.
        if isinstance(module, ClusterProjections):
            for projection in module:
                init.normal_(projection, mean=0.0, std=config.init_std)
        if isinstance(module, ProjectedAdaptiveLogSoftmax) and module.n_clusters:
            init.normal_(module.cluster_weight, mean=0.0, std=config.init_std)
            init.zeros_(module.cluster_bias)
        if isinstance(module, GlobalBiases):
            # Transformer-XL's u and v, initialised like every other weight (the paper's code: N(0, init_std)).
            init.normal_(module.content_bias, mean=0.0, std=config.init_std)
            init.normal_(module.position_bias, mean=0.0, std=config.init_std)
        if isinstance(module, SinusoidalPositionalEncoding):
            # Not saved in checkpoints: rebuild it, or it is garbage after from_pretrained.
            # Computed in float64 and rounded once to the buffer's dtype (the dtype the model was built in).
            init.copy_(module.pe, sinusoidal_table(module.pe.shape[0], module.pe.shape[1], module.layout,
                                                   dtype=module.pe.dtype))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, check_finite_weights: bool = True, **kwargs):
        """transformers' `from_pretrained`, except that:

        - a local path that does not exist says "no such directory" (instead of being tried as a Hub repository id);
          `owner/name` ids are passed on untouched;
        - a weight that loads as NaN or ±inf (a damaged file, a diverged run's save, or a float32 value beyond
          float16's range loaded with `dtype=torch.float16`) raises `CorruptWeightsError` (a ValueError) naming the
          tensor and its file, instead of a model whose every output is NaN. Cost: one sum per tensor; for GPT-2
          small (124M parameters) on a shared 2-core CPU 0.07-0.09 s with one thread, about the time of the load
          itself from the page cache (numbers: `finite_weights.check_loaded_weights`). `check_finite_weights=False`
          skips it (to inspect a damaged file).
        """
        check_local_path(pretrained_model_name_or_path)
        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        if check_finite_weights:
            model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True: (model, info)
            check_loaded_weights(model, kwargs.get("subfolder") or "")
        return loaded

    @classmethod
    def get_init_context(cls, dtype: torch.dtype, is_quantized: bool, *args, **kwargs):
        """transformers' contexts to build the model in (`from_pretrained`), after the dtype it resolved (given, or read
        from the config with `dtype="auto"`) is one the model can compute in: float8 (given, or saved in a folder's
        config) fails inside transformers as "couldn't find storage object Float8_e4m3fnStorage" otherwise."""
        if not is_quantized:  # a quantizer stores weights in its own formats and sets the compute dtype itself
            check_compute_dtype(dtype, f"dtype for {cls.__name__}.from_pretrained")
        return super().get_init_context(dtype, is_quantized, *args, **kwargs)

    @classmethod
    def _from_config(cls, config: TobigsConfig, **kwargs):
        """`from_config(config, dtype=...)` (AutoModel*.from_config too): the same dtype check as `from_pretrained`."""
        dtype = kwargs.get("dtype", config.dtype)
        dtype = getattr(torch, dtype, dtype) if isinstance(dtype, str) else dtype
        if isinstance(dtype, torch.dtype):
            check_compute_dtype(dtype, f"dtype for {cls.__name__}.from_config")
        return super()._from_config(config, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' `save_pretrained`, writing a folder that also loads where this package is not installed
        (`trust_remote_code=True`): `config.json` gets the complete `auto_map` (every Auto class that can read these
        weights, see `remote_code.auto_map_for`) and, for encoder-decoder models, `custom_pipelines`; the model's
        source files are copied next to the weights. Every folder the package writes goes through here (Trainer
        checkpoints and outputs, `tobigs export`, `tobigs convert --from-hf`). The config object is left as it was."""
        config = self.config
        fields = remote_code_fields(type(self), config)
        previous = {name: config.__dict__[name] for name in fields if name in config.__dict__}
        for name, value in fields.items():
            setattr(config, name, value)
        try:
            result = super().save_pretrained(save_directory, *args, **kwargs)
        finally:
            for name in fields:
                if name in previous:
                    setattr(config, name, previous[name])
                elif name in config.__dict__:
                    delattr(config, name)
        is_main_process = kwargs.get("is_main_process", args[0] if args else True)
        adapters_only = getattr(self, "_hf_peft_config_loaded", False)  # a PEFT adapter folder holds no model
        if self.should_save_on_this_rank(is_main_process) and os.path.isdir(save_directory) and not adapters_only:
            save_model_code(save_directory)
        return result

    def resize_token_embeddings(self, *args, **kwargs):
        """transformers' `resize_token_embeddings`; refused with adaptive input or softmax (`check_resizable`)."""
        check_resizable(self.config)
        return super().resize_token_embeddings(*args, **kwargs)

    @property
    def loss_function(self):
        if getattr(self, "_loss_function", None) is not None:
            return self._loss_function
        if self.loss_kind in TOKEN_LOSSES:
            return partial(LOSSES[self.loss_kind], label_smoothing=self.config.label_smoothing)
        return LOSSES[self.loss_kind]

    @loss_function.setter
    def loss_function(self, value):
        self._loss_function = value

    def uses_chunked_loss(self, return_logits: bool | None, logits_to_keep: int | torch.Tensor = 0) -> bool:
        """Whether a forward that has labels computes its LM loss chunk by chunk (`chunked_loss.py`) and returns no
        logits.

        `return_logits=None` (the default): in training mode yes, in eval mode no, so the Trainer's evaluate() and
        predict(), `compute_metrics`, pipelines and generate see logits as before. `return_logits=True` always
        builds the logits (plain path); `return_logits=False` never does, in eval mode too (a perplexity run that
        needs the loss alone). Off when `config.loss_chunk_size` is 0 (except with `config.adaptive_softmax`, whose
        loss is computed per cluster, unchunked then), when `loss_function` was replaced (it needs
        logits), and when only some positions' logits are kept (`logits_to_keep`)."""
        if getattr(self, "_loss_function", None) is not None:
            return False
        # The adaptive softmax's loss needs no logits at any chunk size (`adaptive.py`).
        if not self.config.loss_chunk_size and not getattr(self.config, "adaptive_softmax", False):
            return False
        if not isinstance(logits_to_keep, int) or logits_to_keep != 0:
            return False
        return self.training if return_logits is None else not return_logits

    def loss_or_logits(self, hidden_states: torch.Tensor, head: nn.Module, targets: torch.Tensor | None,
                       chunked_loss: Callable[[], torch.Tensor], plain_loss: Callable[[torch.Tensor], torch.Tensor],
                       return_logits: bool | None = None, logits_to_keep: int | torch.Tensor = 0):
        """The choice every LM head makes: with targets and `uses_chunked_loss`, `chunked_loss()` and no logits;
        otherwise `head` on the kept positions (`logits_to_keep`, 0 = all) and, with targets, `plain_loss(logits)`.
        Returns (loss or None, logits or None)."""
        if targets is not None and self.uses_chunked_loss(return_logits, logits_to_keep):
            return chunked_loss(), None
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = head(hidden_states[:, keep])  # (B, T, vocab_size)
        return (None if targets is None else plain_loss(logits)), logits

    def chunked_lm_loss(self, hidden_states: torch.Tensor, projection: nn.Linear, targets: torch.Tensor,
                        **kwargs) -> torch.Tensor:
        """The token loss of `projection(hidden_states)` against `targets` (aligned: position t scored against
        targets[t]) without building the logits; the same value and gradients as `self.loss_function` on them."""
        kwargs.setdefault("label_smoothing", self.config.label_smoothing)
        if isinstance(projection, ProjectedAdaptiveLogSoftmax):
            return adaptive_token_cross_entropy(projection, hidden_states, targets, self.config.loss_chunk_size,
                                                **kwargs)
        return chunked_token_cross_entropy(
            hidden_states, projection.weight, projection.bias, targets, self.config.loss_chunk_size, **kwargs
        )
