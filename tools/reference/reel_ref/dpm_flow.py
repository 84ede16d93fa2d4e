"""diffusers' DPMSolverMultistepScheduler as SANA-Video's scheduler/config.json sets it up
(use_flow_sigmas, flow_shift, prediction_type "flow_prediction", algorithm_type "dpmsolver++",
solver_order 1 or 2, solver_type "midpoint", final_sigmas_type "zero"), written from the
definitions in diffusers' scheduling_dpmsolver_multistep.py: set_timesteps' flow-sigma branch,
convert_model_output, dpm_solver_first_order_update, multistep_dpm_solver_second_order_update and
step's lower-order rules. Independent of reel's sampler (reel_ref/sampler.py) on purpose: it is the
oracle for reel's "dpm++2m" with num_train_timesteps set.

Sampling (pipeline_sana_video.py): the transformer sees the scheduler's int64 timestep t, CFG
v = v_u + g (v_c - v_u), latents = scheduler.step(v, t, latents).
"""
from typing import List, Tuple

import numpy as np
import torch


def flow_schedule(steps: int, shift: float, num_train_timesteps: int = 1000
                  ) -> Tuple[List[float], List[int]]:
    """(sigmas: steps + 1 values stored as float32, the last 0; timesteps: steps int64 values)."""
    alphas = np.linspace(1, 1 / num_train_timesteps, steps + 1)
    sigmas = 1.0 - alphas
    sigmas = np.flip(shift * sigmas / (1 + (shift - 1) * sigmas))[:-1].copy()
    timesteps = (sigmas * num_train_timesteps).copy().astype(np.int64)
    sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)
    return [float(s) for s in sigmas], [int(t) for t in timesteps]


def _alpha_sigma(sigma: torch.Tensor):
    return 1 - sigma, sigma  # _sigma_to_alpha_sigma_t with use_flow_sigmas


def _lam(sigma: torch.Tensor) -> torch.Tensor:
    alpha, s = _alpha_sigma(sigma)
    return torch.log(alpha) - torch.log(s)


class FlowDpmSolver:
    def __init__(self, steps: int, shift: float, num_train_timesteps: int = 1000,
                 solver_order: int = 2):
        self.sigmas_list, self.timesteps = flow_schedule(steps, shift, num_train_timesteps)
        self.sigmas = torch.tensor(self.sigmas_list, dtype=torch.float64)
        self.order = solver_order
        self.model_outputs = [None] * solver_order
        self.lower_order_nums = 0

    def step(self, i: int, model_output: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        n = len(self.timesteps)
        # step(): lower_order_final = last step and (euler_at_final or (lower_order_final and
        # n < 15) or final_sigmas_type == "zero"); "zero" is required, so the last step is first
        # order whatever the two flags say.
        lower_final = i == n - 1
        x0 = sample - self.sigmas[i] * model_output  # convert_model_output, flow_prediction
        self.model_outputs = self.model_outputs[1:] + [x0]
        if self.order == 1 or self.lower_order_nums < 1 or lower_final:
            prev = self._first_order(i, x0, sample)
        else:
            prev = self._second_order(i, sample)
        if self.lower_order_nums < self.order:
            self.lower_order_nums += 1
        return prev

    def _first_order(self, i, x0, sample):
        sigma_t, sigma_s = self.sigmas[i + 1], self.sigmas[i]
        alpha_t, s_t = _alpha_sigma(sigma_t)
        _, s_s = _alpha_sigma(sigma_s)
        h = _lam(sigma_t) - _lam(sigma_s)
        return (s_t / s_s) * sample - (alpha_t * (torch.exp(-h) - 1.0)) * x0

    def _second_order(self, i, sample):
        sigma_t, sigma_s0, sigma_s1 = self.sigmas[i + 1], self.sigmas[i], self.sigmas[i - 1]
        alpha_t, s_t = _alpha_sigma(sigma_t)
        _, s_s0 = _alpha_sigma(sigma_s0)
        m0, m1 = self.model_outputs[-1], self.model_outputs[-2]
        lam_t, lam_s0, lam_s1 = _lam(sigma_t), _lam(sigma_s0), _lam(sigma_s1)
        h, h_0 = lam_t - lam_s0, lam_s0 - lam_s1
        r0 = h_0 / h
        d0, d1 = m0, (1.0 / r0) * (m0 - m1)
        return ((s_t / s_s0) * sample - (alpha_t * (torch.exp(-h) - 1.0)) * d0
                - 0.5 * (alpha_t * (torch.exp(-h) - 1.0)) * d1)


@torch.no_grad()
def sample(model, noise, caption, caption_mask, neg_caption, neg_mask, steps: int, cfg: float,
           flow_shift: float, num_train_timesteps: int = 1000, solver_order: int = 2):
    """The SANA-Video pipeline's denoising loop over the whole clip (bidirectional)."""
    sched = FlowDpmSolver(steps, flow_shift, num_train_timesteps, solver_order)
    x = noise
    B = noise.shape[0]
    for i, t in enumerate(sched.timesteps):
        tt = torch.full((B,), float(t), dtype=torch.float64)
        v = model(x, tt, caption, caption_mask)
        if cfg != 1.0:
            v_u = model(x, tt, neg_caption, neg_mask)
            v = v_u + cfg * (v - v_u)
        x = sched.step(i, v, x)
    return x
