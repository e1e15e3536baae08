"""theory.blocks: how a composed state holds.

An MLP map is exact only on a deterministic input: after a residual whose random
branch is switched off (alpha = 0) the input is still deterministic; after one with
alpha > 0 it is not, and the MLP's map becomes the large-width one.
"""

from __future__ import annotations

import pytest

from architecture.model import transformer_block, xavier_attention, xavier_mlp
from theory import blocks


@pytest.mark.parametrize(("alpha_1", "how"), [(0.0, "exact"), (0.5, "large-width")])
def test_an_mlp_after_a_switched_off_branch_is_exact(alpha_1: float, how: str) -> None:
    block = transformer_block(xavier_attention(8, kind="uniform"), xavier_mlp(8, "gelu"),
                              "none", alpha_1)
    start = blocks.State(blocks.exchangeable(3, 8, 2))
    state, steps = blocks.apply_block(block, start, 8)
    assert state.how == how
    assert [s.kind for s in steps] == ["attention", "residual", "mlp", "residual"]
