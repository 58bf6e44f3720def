"""Builders of tiny random-weight models, written where a test (or a bench) asks.

Each builder takes a destination and a ``seed`` and returns the path to load. The same seed gives the same files.
Heavy libraries are imported inside the builders. Use :func:`cached` to build once per machine::

    path = cached(build_tiny_gguf, default_cache_dir())   # -> <cache>/build_tiny_gguf-v<N>/model/tiny-llama.gguf

What the tiny models look like (see shared ENV-NOTES):
- ``build_tiny_gguf``: a llama GGUF (2 blocks, embedding 64, 4 heads) with an embedded SentencePiece vocabulary,
  a chat template, and zeroed output rows for byte and control tokens, so sampling yields word pieces.
- ``build_tiny_bpe_gguf``: the same with a gpt2 (BPE) vocabulary: ctransformers crashes on it.
- ``build_tiny_sd_pipeline``: a ``StableDiffusionPipeline`` folder (~200 KB).
- ``build_tiny_shap_e_pipeline``: a ``ShapEPipeline`` folder whose renderer holds real marching-cubes tables.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Bump when a builder's output changes, so caches keyed on it are rebuilt.
BUILDER_VERSION = 1

WORDS = (
    "the", "a", "cat", "dog", "sat", "on", "mat", "and", "is", "it", "was", "red", "blue", "green", "sun", "moon",
    "hello", "world", "of", "to", "in", "big", "small", "tree", "house", "runs", "jumps", "over", "under", "sky",
    "bird", "sings", "river", "stone", "light", "night", "day", "rain", "wind", "fire",
)

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# Shape of the tiny llama.
@dataclass(frozen=True)
class LlamaShape:
    embed: int = 64
    heads: int = 4
    ffn: int = 128
    blocks: int = 2
    context: int = 256
    rope_dims: int = 16


TINY = LlamaShape()
#: ~57M parameters (F32, ~230 MB): slow enough per token that a benchmark measures the gateway, not Python.
BENCH = LlamaShape(embed=768, heads=12, ffn=2048, blocks=8, context=2048, rope_dims=64)


def default_cache_dir() -> Path:
    """Where tests keep built models between sessions: ``$PLUGGABLY_TEST_MODELS`` or the system temp folder."""
    return Path(os.environ.get("PLUGGABLY_TEST_MODELS") or Path(tempfile.gettempdir()) / "pluggably-test-models")


def cached(builder: Callable[..., Path], cache_dir: str | os.PathLike, **kwargs) -> Path:
    """Build ``builder(dest, **kwargs)`` once into ``cache_dir``; later calls return the cached path.

    The entry is keyed by builder name, :data:`BUILDER_VERSION` and the keyword arguments; it is built in a
    temporary folder and renamed into place, so concurrent test sessions never see half a model.
    """
    key = "-".join([builder.__name__, f"v{BUILDER_VERSION}", *(f"{k}={v}" for k, v in sorted(kwargs.items()))])
    root = Path(cache_dir)
    entry = root / key
    marker = entry / "path.txt"
    if marker.exists():
        return entry / marker.read_text()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        built = builder(staging / "model", **kwargs)
        (staging / "path.txt").write_text(str(built.relative_to(staging)))
        try:
            staging.rename(entry)
        except OSError:  # another session won the race: use its copy
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry / marker.read_text()


# --------------------------------------------------------------------------------------------------- GGUF (text)

def _spm_vocab() -> tuple[list[str], list[float], list[int]]:
    import gguf

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{i:02X}>" for i in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    pieces = ["\u2581" + w for w in WORDS] + ["\u2581"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    return tokens, scores, [int(t) for t in types]


def _bpe_vocab() -> tuple[list[str], list[str], list[int]]:
    import gguf

    byte_chars = _bytes_to_unicode()
    tokens = [byte_chars[b] for b in range(256)]
    merges = []
    for word in WORDS:
        piece = byte_chars[ord(" ")]
        for ch in word:
            merges.append(f"{piece} {ch}")
            piece += ch
            if piece not in tokens:
                tokens.append(piece)
    merges = list(dict.fromkeys(merges))
    tokens += ["<s>", "</s>"]
    types = [gguf.TokenType.NORMAL] * (len(tokens) - 2) + [gguf.TokenType.CONTROL] * 2
    return tokens, merges, [int(t) for t in types]


def _write_llama_gguf(path: Path, *, seed: int, vocab: str, shape: LlamaShape = TINY) -> Path:
    import gguf
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(f"tiny-{vocab}")
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.embed)
    writer.add_block_count(shape.blocks)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.heads)
    writer.add_rope_dimension_count(shape.rope_dims)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    if vocab == "llama":
        tokens, scores, types = _spm_vocab()
        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(2)
        writer.add_unk_token_id(0)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
        silent = [i for i, t in enumerate(types) if t != gguf.TokenType.NORMAL]
    else:
        tokens, merges, types = _bpe_vocab()
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_scores([0.0] * len(tokens))  # without scores ctransformers refuses it cleanly
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        writer.add_bos_token_id(tokens.index("<s>"))
        writer.add_eos_token_id(tokens.index("</s>"))
        silent = [i for i, t in enumerate(types) if t != gguf.TokenType.NORMAL]
    writer.add_chat_template(CHAT_TEMPLATE)

    rng = np.random.default_rng(seed)
    n_vocab = len(tokens)

    def weights(*shape: int, scale: float = 0.02):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    ones = np.ones(shape.embed, dtype=np.float32)
    writer.add_tensor("token_embd.weight", weights(n_vocab, shape.embed, scale=1.0))
    for b in range(shape.blocks):
        writer.add_tensor(f"blk.{b}.attn_norm.weight", ones)
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{b}.{name}.weight", weights(shape.embed, shape.embed, scale=0.1))
        writer.add_tensor(f"blk.{b}.ffn_norm.weight", ones)
        writer.add_tensor(f"blk.{b}.ffn_gate.weight", weights(shape.ffn, shape.embed, scale=0.1))
        writer.add_tensor(f"blk.{b}.ffn_up.weight", weights(shape.ffn, shape.embed, scale=0.1))
        writer.add_tensor(f"blk.{b}.ffn_down.weight", weights(shape.embed, shape.ffn, scale=0.1))
    writer.add_tensor("output_norm.weight", ones)
    # Word pieces get logits with a wide spread (std ~4), byte and control tokens a flat 0, so sampling
    # emits readable words and practically never ends the stream by itself (tests stop it with max_tokens).
    output = weights(n_vocab, shape.embed, scale=0.5)
    output[silent] = 0.0
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def build_tiny_gguf(dest: str | os.PathLike, *, seed: int = 0) -> Path:
    """A tiny llama GGUF (~0.5 MB) with a SentencePiece vocabulary and a chat template; returns the file path."""
    return _write_llama_gguf(Path(dest) / "tiny-llama.gguf", seed=seed, vocab="llama")


def build_bench_gguf(dest: str | os.PathLike, *, seed: int = 0) -> Path:
    """A bigger random llama GGUF (the ``BENCH`` shape, same vocabulary and template) for benchmarks."""
    return _write_llama_gguf(Path(dest) / "bench-llama.gguf", seed=seed, vocab="llama", shape=BENCH)


def build_tiny_bpe_gguf(dest: str | os.PathLike, *, seed: int = 0) -> Path:
    """The tiny llama with a gpt2 (BPE) vocabulary: ctransformers 0.2.27 segfaults (SIGSEGV) loading it."""
    return _write_llama_gguf(Path(dest) / "tiny-bpe.gguf", seed=seed, vocab="gpt2")


# ------------------------------------------------------------------------------------------- CLIP tokenizer

def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _write_clip_tokenizer(folder: Path) -> int:
    """Write a byte-level CLIP tokenizer (every merge result is in the vocabulary); return the vocabulary size."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars]
    merges = []
    for word in WORDS:
        piece = word[0]
        for i, ch in enumerate(word[1:], start=1):
            last = i == len(word) - 1
            right = ch + "</w>" if last else ch
            merges.append((piece, right))
            piece = piece + right
            if piece not in vocab_list:
                vocab_list.append(piece)
    merges = list(dict.fromkeys(merges))
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(vocab_list)}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    tokenizer = CLIPTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"),
                              model_max_length=77)
    tokenizer.save_pretrained(str(folder))
    return len(vocab)


def _clip_ids(vocab_size: int) -> dict[str, int]:
    return {"bos_token_id": vocab_size - 2, "eos_token_id": vocab_size - 1, "pad_token_id": vocab_size - 1}


# ------------------------------------------------------------------------------------------- Stable Diffusion

def build_tiny_sd_pipeline(dest: str | os.PathLike, *, seed: int = 0) -> Path:
    """A tiny ``StableDiffusionPipeline`` saved with ``save_pretrained``; returns the folder."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(dest) / "tiny-sd"
    tok_dir = Path(dest) / "_tokenizer"
    vocab_size = _write_clip_tokenizer(tok_dir)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=8, norm_num_groups=2, attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(4, 8), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=2,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=8, intermediate_size=16, num_attention_heads=2, num_hidden_layers=2, vocab_size=vocab_size,
        max_position_embeddings=77, layer_norm_eps=1e-5, **_clip_ids(vocab_size),
    ))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=CLIPTokenizer.from_pretrained(str(tok_dir)),
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(str(folder))
    shutil.rmtree(tok_dir, ignore_errors=True)
    return folder


# ------------------------------------------------------------------------------------------------------ Shap-E

# Corner c of a marching cube sits at (x, y, z) = (c & 1, c >> 1 & 1, c >> 2 & 1), matching the bit order of
# diffusers' MeshDecoder; edges are numbered as its ``_create_flat_edge_indices`` lays them out.
_MC_EDGES = ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7))
_MC_FACES = ((0, 1, 3, 2), (4, 5, 7, 6), (0, 1, 5, 4), (2, 3, 7, 6), (0, 2, 6, 4), (1, 3, 7, 5))


def marching_cubes_tables() -> tuple[list[list[tuple[int, int, int]]], int]:
    """Triangles (as edge indices) for each of the 256 corner sign patterns, and the largest count in one case.

    For each face the sign changes are joined by segments (an ambiguous face keeps the inside corners apart),
    the segments are chained into closed loops, each loop is fanned into triangles, and each triangle is wound
    so its normal points from the inside (field > 0) to the outside.
    """
    import numpy as np

    edge_of = {frozenset(e): i for i, e in enumerate(_MC_EDGES)}
    corner_pos = [np.array([c & 1, c >> 1 & 1, c >> 2 & 1], dtype=float) for c in range(8)]
    mid = [(corner_pos[a] + corner_pos[b]) / 2 for a, b in _MC_EDGES]
    table, most = [], 0
    for case in range(256):
        inside = [bool(case >> c & 1) for c in range(8)]
        links: dict[int, list[int]] = {}
        for face in _MC_FACES:
            ring = [edge_of[frozenset((face[i], face[(i + 1) % 4]))] for i in range(4)]
            cut = [i for i in range(4) if inside[face[i]] != inside[face[(i + 1) % 4]]]
            if len(cut) == 2:
                pairs = [(ring[cut[0]], ring[cut[1]])]
            elif len(cut) == 4:  # ambiguous: cut off each inside corner on its own
                pairs = [(ring[(i - 1) % 4], ring[i]) for i in range(4) if inside[face[i]]]
            else:
                pairs = []
            for a, b in pairs:
                links.setdefault(a, []).append(b)
                links.setdefault(b, []).append(a)
        triangles: list[tuple[int, int, int]] = []
        seen: set[int] = set()
        for start in sorted(links):
            if start in seen:
                continue
            loop, prev, cur = [start], None, start
            seen.add(start)
            while True:
                nxt = next(n for n in links[cur] if n != prev)
                if nxt == start:
                    break
                loop.append(nxt)
                seen.add(nxt)
                prev, cur = cur, nxt
            outward = sum(
                (corner_pos[b] - corner_pos[a]) if inside[a] else (corner_pos[a] - corner_pos[b])
                for a, b in (_MC_EDGES[e] for e in loop)
            )
            for k in range(1, len(loop) - 1):
                tri = (loop[0], loop[k], loop[k + 1])
                normal = np.cross(mid[tri[1]] - mid[tri[0]], mid[tri[2]] - mid[tri[0]])
                triangles.append(tri if normal @ outward >= 0 else (tri[0], tri[2], tri[1]))
        most = max(most, len(triangles))
        table.append(triangles)
    return table, most


def fill_marching_cubes(mesh_decoder) -> None:
    """Fill a diffusers ``MeshDecoder``'s ``cases``/``masks`` buffers (a random one has them empty)."""
    import torch

    table, _ = marching_cubes_tables()
    slots = mesh_decoder.cases.shape[1]
    cases = torch.zeros_like(mesh_decoder.cases)
    masks = torch.zeros_like(mesh_decoder.masks)
    for case, triangles in enumerate(table):
        for j, tri in enumerate(triangles[:slots]):
            cases[case, j] = torch.tensor(tri)
            masks[case, j] = True
    mesh_decoder.cases.copy_(cases)
    mesh_decoder.masks.copy_(masks)


def _smooth_signed_distance(renderer, keep_degrees: int = 0) -> None:
    """Make the random renderer's signed distance a smooth odd function of position, zero at the centre.

    With random weights the high-frequency positional features make the field noise (a million-face mesh that
    takes half a minute to extract), and a random offset can leave it with no zero crossing at all (no mesh).
    So the first layer sees only the position and its lowest sine features, and the MLP has no biases: every
    layer maps 0 to 0 (swish(0) = 0), the field crosses zero at the centre and the surface is a smooth sheet.
    """
    import torch

    dims = 3  # diffusers' encode_position: x, then sin(2^d x) for d < 15, then cos(2^d x) for d < 15
    keep = list(range(dims + dims * keep_degrees))
    first = next(iter(renderer.params_proj.projections.values()))
    mute = torch.ones(first.channels, dtype=torch.bool)
    mute[keep] = False
    with torch.no_grad():
        first.norm.weight[mute] = 0.0
        first.norm.bias[mute] = 0.0
        first.proj.bias.view(first.vectors, first.channels)[:, mute] = 0.0
        for layer in renderer.mlp.mlp:
            layer.bias.zero_()


def build_tiny_shap_e_pipeline(dest: str | os.PathLike, *, seed: int = 0) -> Path:
    """A tiny ``ShapEPipeline`` (sizes of diffusers' own fast tests) whose mesh decoding works; returns the folder."""
    import torch
    from diffusers import HeunDiscreteScheduler, PriorTransformer, ShapEPipeline
    from diffusers.pipelines.shap_e import ShapERenderer
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    folder = Path(dest) / "tiny-shap-e"
    tok_dir = Path(dest) / "_tokenizer"
    vocab_size = _write_clip_tokenizer(tok_dir)
    hidden, time_dim, renderer_dim = 32, 32, 8
    torch.manual_seed(seed)
    text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(
        hidden_size=hidden, projection_dim=hidden, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=vocab_size, max_position_embeddings=77, layer_norm_eps=1e-5, **_clip_ids(vocab_size),
    ))
    prior = PriorTransformer(
        num_attention_heads=2, attention_head_dim=16, embedding_dim=time_dim, num_embeddings=32,
        embedding_proj_dim=hidden, time_embed_dim=time_dim * 4, num_layers=1, clip_embed_dim=time_dim * 2,
        additional_embeddings=0, time_embed_act_fn="gelu", norm_in_type="layer", encoder_hid_proj_type=None,
        added_emb_type=None,
    )
    renderer = ShapERenderer(
        param_shapes=((renderer_dim, 93), (renderer_dim, 8), (renderer_dim, 8), (renderer_dim, 8)),
        d_latent=time_dim, d_hidden=renderer_dim, n_output=12, background=(0.1, 0.1, 0.1),
    )
    fill_marching_cubes(renderer.mesh_decoder)
    _smooth_signed_distance(renderer)
    scheduler = HeunDiscreteScheduler(
        beta_schedule="exp", num_train_timesteps=1024, prediction_type="sample", use_karras_sigmas=True,
        clip_sample=True, clip_sample_range=1.0,
    )
    pipe = ShapEPipeline(prior=prior, text_encoder=text_encoder, tokenizer=CLIPTokenizer.from_pretrained(str(tok_dir)),
                         shap_e_renderer=renderer, scheduler=scheduler)
    pipe.save_pretrained(str(folder))
    shutil.rmtree(tok_dir, ignore_errors=True)
    return folder
