"""Closed-form checks of the Gemma-2 reference (it is the C++ tests' oracle, so it is tested too)."""
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref.gemma2 import Gemma2Config, Gemma2RMSNorm, random_gemma2, rope_cos_sin, rotate_half  # noqa: E402,E501
from reel_ref.sana_prompt import SANA_VIDEO_CHI, GemmaSentencePiece, tokenize_prompt, train_tokenizer  # noqa: E402,E501


def tiny(layer_types=None, window=3):
    return Gemma2Config(vocab_size=50, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, head_dim=6,
                        query_pre_attn_scalar=5.0, sliding_window=window,
                        attn_logit_softcapping=2.0, layer_types=layer_types)


class Gemma2ReferenceTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def test_default_layer_types_slide_on_even_layers(self):
        cfg = Gemma2Config(num_hidden_layers=4)
        self.assertEqual([cfg.is_sliding(i) for i in range(4)], [True, False, True, False])

    def test_causal_later_tokens_do_not_change_earlier_rows(self):
        model = random_gemma2(tiny(), seed=1).double()
        ids = torch.randint(0, 50, (1, 10))
        other = ids.clone()
        other[0, 6:] = (other[0, 6:] + 7) % 50
        mask = torch.ones(1, 10, dtype=torch.long)
        a, b = model(ids, mask), model(other, mask)
        self.assertTrue(torch.allclose(a[0, :6], b[0, :6], atol=1e-12))
        self.assertFalse(torch.allclose(a[0, 6:], b[0, 6:], atol=1e-3))

    def test_sliding_layer_ignores_keys_outside_the_window(self):
        cfg = tiny(layer_types=["sliding_attention"], window=3)
        cfg.num_hidden_layers = 1
        model = random_gemma2(cfg, seed=2).double()
        ids = torch.randint(0, 50, (1, 9))
        other = ids.clone()
        other[0, :5] = (other[0, :5] + 11) % 50  # keys 0..4 are outside the window of query 8
        mask = torch.ones(1, 9, dtype=torch.long)
        self.assertTrue(torch.allclose(model(ids, mask)[0, 8], model(other, mask)[0, 8],
                                       atol=1e-12))

    def test_valid_rows_do_not_depend_on_padding(self):
        model = random_gemma2(tiny(), seed=3).double()
        ids = torch.randint(0, 50, (1, 12))
        mask = torch.tensor([[1] * 5 + [0] * 7])
        other = ids.clone()
        other[0, 5:] = (other[0, 5:] + 3) % 50
        self.assertTrue(torch.allclose(model(ids, mask)[0, :5], model(other, mask)[0, :5],
                                       atol=1e-12))

    def test_rmsnorm_with_zero_offset_is_unit_rms(self):
        norm = Gemma2RMSNorm(8, eps=0.0).double()
        y = norm(torch.randn(3, 8, dtype=torch.float64))
        self.assertTrue(torch.allclose(y.pow(2).mean(-1), torch.ones(3, dtype=torch.float64)))

    def test_rope_is_identity_at_zero_and_keeps_pair_norms(self):
        cos, sin = rope_cos_sin(torch.arange(5), 8, 10000.0, torch.float64)
        x = torch.randn(5, 8, dtype=torch.float64)
        y = x * cos + rotate_half(x) * sin
        self.assertTrue(torch.allclose(y[0], x[0]))
        pair = lambda t: t[:, :4].pow(2) + t[:, 4:].pow(2)  # noqa: E731
        self.assertTrue(torch.allclose(pair(x), pair(y)))

    def test_config_refuses_unknown_fields(self):
        with self.assertRaises(ValueError):
            Gemma2Config.from_json(dict(tiny().to_json(), rope_scaling={"type": "linear"}))
        self.assertEqual(Gemma2Config.from_json(tiny().to_json()).head_dim, 6)


class SanaPromptReferenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        path = train_tokenizer(os.path.join(cls.dir.name, "t"), SANA_VIDEO_CHI + ["a cat"], 300)
        cls.tok = GemmaSentencePiece(path)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_selection_keeps_bos_and_the_last_rows(self):
        for chi, msl in ((SANA_VIDEO_CHI, 300), (SANA_VIDEO_CHI, 7), ([], 300), ([], 5)):
            ids, mask, selected = tokenize_prompt(self.tok, " A Cat ", chi, msl)
            self.assertEqual(len(selected), msl)
            self.assertEqual(selected[0], 0)
            self.assertEqual(selected[-1], len(ids) - 1)
            self.assertEqual(ids[0], self.tok.bos_id)
            self.assertEqual(mask, sorted(mask, reverse=True))  # ones, then zeros
            if not chi:
                self.assertEqual(selected, list(range(msl)))
            else:
                n_chi = len(self.tok.encode("\n".join(chi)))
                self.assertEqual(len(ids), n_chi + msl - 2)

    def test_prompt_is_lower_cased_and_stripped(self):
        ids, _, _ = tokenize_prompt(self.tok, "  A CAT ", [], 20)
        want = [self.tok.bos_id] + self.tok.encode_plain("a cat")
        self.assertEqual(ids[:len(want)], want)


if __name__ == "__main__":
    unittest.main()
