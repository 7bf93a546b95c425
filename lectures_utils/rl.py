"""Tabular reinforcement learning: finite MDPs, dynamic programming and temporal-difference control.

A finite Markov decision process (MDP) is given by arrays, as in Sutton & Barto:

- ``P``: ``(S, A, S)`` float, ``P[s, a, s']`` = probability of moving to ``s'`` after action ``a`` in
  ``s``. Rows may sum to less than 1: the missing mass is the probability that the episode ends
  (the process moves to an absorbing terminal state whose value is 0);
- ``R``: ``(S, A)`` float, expected immediate reward of action ``a`` in state ``s``;
- ``gamma``: discount factor in [0, 1) (1 is allowed for episodic problems whose rows leak mass).

Dynamic programming (``policy_evaluation``, ``policy_iteration``, ``value_iteration``) works on these
arrays; ``mdp_from_gymnasium`` builds them from a Gymnasium toy-text environment (FrozenLake,
CliffWalking, Taxi). ``td_control`` runs Q-learning or SARSA on any environment with the Gymnasium
API and discrete observation and action spaces.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "mdp_from_gymnasium",
    "policy_evaluation",
    "q_from_v",
    "greedy_policy",
    "bellman_residual",
    "policy_iteration",
    "value_iteration",
    "epsilon_greedy",
    "td_control",
]


def _check_mdp(P, R, gamma) -> tuple[np.ndarray, np.ndarray, float]:
    if not isinstance(P, np.ndarray) or not isinstance(R, np.ndarray):
        raise TypeError(f"P and R must be numpy arrays, got {type(P).__name__} and {type(R).__name__}")
    if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] == 0 or P.shape[1] == 0:
        raise ValueError(f"P must have shape (S, A, S) with S, A >= 1, got {P.shape}")
    if R.shape != P.shape[:2]:
        raise ValueError(f"R must have shape (S, A) = {P.shape[:2]}, got {R.shape}")
    P = P.astype(np.float64)
    R = R.astype(np.float64)
    if not (np.isfinite(P).all() and np.isfinite(R).all()):
        raise ValueError("P and R must be finite")
    if (P < -1e-12).any() or (P.sum(axis=2) > 1 + 1e-9).any():
        raise ValueError("P must be non-negative with rows summing to at most 1")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating)):
        raise TypeError(f"gamma must be a float, got {type(gamma).__name__}")
    gamma = float(gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    return P, R, gamma


def _check_policy(policy, n_states: int, n_actions: int) -> np.ndarray:
    """Return the policy as an (S, A) matrix of action probabilities."""
    policy = np.asarray(policy)
    if policy.shape == (n_states,) and np.issubdtype(policy.dtype, np.integer):
        if (policy < 0).any() or (policy >= n_actions).any():
            raise ValueError(f"a deterministic policy holds actions in [0, {n_actions}), got {policy}")
        return np.eye(n_actions)[policy]
    if policy.shape == (n_states, n_actions):
        policy = policy.astype(np.float64)
        if (policy < 0).any() or not np.allclose(policy.sum(1), 1.0):
            raise ValueError("a stochastic policy has non-negative rows summing to 1")
        return policy
    raise ValueError(f"policy must be (S,) ints or (S, A) probabilities with S={n_states}, A={n_actions}, "
                     f"got shape {policy.shape} dtype {policy.dtype}")


def mdp_from_gymnasium(env: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays ``(P, R, terminal)`` of a Gymnasium toy-text environment (one with ``unwrapped.P``).

    Transitions that end the episode contribute their reward but no next-state mass; terminal states
    (those such transitions lead to) get zero rows, so their value is 0. ``terminal``: ``(S,)`` bool.
    """
    table = getattr(getattr(env, "unwrapped", env), "P", None)
    if not isinstance(table, dict) or not table:
        raise TypeError("env must be a Gymnasium toy-text environment with a transition table `unwrapped.P`")
    n_states = len(table)
    n_actions = len(table[0])
    P = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    terminal = np.zeros(n_states, dtype=bool)
    for s in range(n_states):
        for a in range(n_actions):
            for prob, s_next, reward, done in table[s][a]:
                R[s, a] += prob * reward
                if done:
                    terminal[int(s_next)] = True
                else:
                    P[s, a, int(s_next)] += prob
    P[terminal] = 0.0
    R[terminal] = 0.0
    return P, R, terminal


def policy_evaluation(P: np.ndarray, R: np.ndarray, policy, gamma: float, tol: float = 1e-10,
                      max_iter: int = 100_000) -> tuple[np.ndarray, int]:
    """Iterative policy evaluation: apply the Bellman expectation operator until ``max |dV| < tol``.

    ``V <- r_pi + gamma * P_pi V`` with ``r_pi[s] = sum_a pi(a|s) R[s, a]``. ``policy``: ``(S,)`` ints
    (deterministic) or ``(S, A)`` probabilities. Returns ``(V (S,), number of sweeps)``.
    Raises ``RuntimeError`` if it has not converged after ``max_iter`` sweeps.
    """
    P, R, gamma = _check_mdp(P, R, gamma)
    pi = _check_policy(policy, *R.shape)
    r_pi = (pi * R).sum(1)
    P_pi = np.einsum("sa,sat->st", pi, P)
    V = np.zeros(R.shape[0])
    for sweep in range(1, max_iter + 1):
        V_new = r_pi + gamma * P_pi @ V
        if np.max(np.abs(V_new - V)) < tol:
            return V_new, sweep
        V = V_new
    raise RuntimeError(f"policy evaluation did not converge in {max_iter} sweeps (gamma={gamma})")


def q_from_v(P: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """Action values ``Q[s, a] = R[s, a] + gamma * sum_s' P[s, a, s'] V[s']``: ``(S, A)``."""
    P, R, gamma = _check_mdp(P, R, gamma)
    V = np.asarray(V, dtype=np.float64)
    if V.shape != (R.shape[0],):
        raise ValueError(f"V must have shape (S,) = ({R.shape[0]},), got {V.shape}")
    return R + gamma * P @ V


def greedy_policy(Q: np.ndarray, atol: float = 1e-9) -> np.ndarray:
    """The greedy deterministic policy of ``Q`` (S, A): ties within ``atol`` go to the lowest action."""
    Q = np.asarray(Q, dtype=np.float64)
    if Q.ndim != 2 or Q.size == 0:
        raise ValueError(f"Q must have shape (S, A), got {Q.shape}")
    return np.argmax(Q >= Q.max(1, keepdims=True) - atol, axis=1)


def bellman_residual(P: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float) -> float:
    """``max_s |max_a Q(s, a) - V(s)|``: 0 exactly when ``V`` solves the Bellman optimality equation."""
    return float(np.max(np.abs(q_from_v(P, R, V, gamma).max(1) - np.asarray(V, dtype=np.float64))))


def policy_iteration(P: np.ndarray, R: np.ndarray, gamma: float, max_iter: int = 1000
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """Policy iteration: evaluate, improve greedily, until the policy is stable.

    Returns ``(policy (S,) int, V (S,), number of improvement steps)``.
    """
    P, R, gamma = _check_mdp(P, R, gamma)
    policy = np.zeros(R.shape[0], dtype=np.int64)
    for step in range(1, max_iter + 1):
        V, _ = policy_evaluation(P, R, policy, gamma)
        Q = q_from_v(P, R, V, gamma)
        # keep the current action when it is already (within tolerance) greedy: avoids cycling on ties
        keep = Q[np.arange(len(policy)), policy] >= Q.max(1) - 1e-9
        new = np.where(keep, policy, greedy_policy(Q))
        if np.array_equal(new, policy):
            return policy, V, step
        policy = new
    raise RuntimeError(f"policy iteration did not converge in {max_iter} steps")


def value_iteration(P: np.ndarray, R: np.ndarray, gamma: float, tol: float = 1e-10, max_iter: int = 100_000
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """Value iteration: ``V <- max_a (R + gamma P V)`` until ``max |dV| < tol``.

    Returns ``(V (S,), greedy policy (S,) int, number of sweeps)``.
    """
    P, R, gamma = _check_mdp(P, R, gamma)
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be a positive float, got {tol!r}")
    V = np.zeros(R.shape[0])
    for sweep in range(1, max_iter + 1):
        V_new = (R + gamma * P @ V).max(1)
        if np.max(np.abs(V_new - V)) < tol:
            return V_new, greedy_policy(R + gamma * P @ V_new), sweep
        V = V_new
    raise RuntimeError(f"value iteration did not converge in {max_iter} sweeps (gamma={gamma})")


def epsilon_greedy(q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """With probability ``epsilon`` a uniformly random action, else a greedy one (random among ties)."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    if rng.random() < epsilon:
        return int(rng.integers(len(q_row)))
    best = np.flatnonzero(q_row == q_row.max())
    return int(best[rng.integers(len(best))]) if len(best) > 1 else int(best[0])


def td_control(env: Any, method: str = "q_learning", n_episodes: int = 500, alpha: float = 0.5,
               gamma: float = 1.0, epsilon: float = 0.1, seed: int = 0, max_steps: int = 1000
               ) -> tuple[np.ndarray, np.ndarray]:
    """Tabular Q-learning (off-policy) or SARSA (on-policy) with an epsilon-greedy behaviour policy.

    Updates, after a transition ``(s, a, r, s')``:

    - Q-learning: ``Q[s, a] += alpha * (r + gamma * max_a' Q[s', a'] - Q[s, a])``;
    - SARSA: ``Q[s, a] += alpha * (r + gamma * Q[s', a'] - Q[s, a])`` with ``a'`` the action taken next.

    The bootstrap term is 0 when the episode terminates (not when it is truncated at ``max_steps``).
    ``env``: Gymnasium API with ``Discrete`` observation and action spaces. Returns
    ``(Q (S, A), returns (n_episodes,))``: the undiscounted return of each training episode.
    """
    if method not in ("q_learning", "sarsa"):
        raise ValueError(f"method must be 'q_learning' or 'sarsa', got {method!r}")
    n_states = getattr(env.observation_space, "n", None)
    n_actions = getattr(env.action_space, "n", None)
    if n_states is None or n_actions is None:
        raise TypeError("env must have Discrete observation and action spaces")
    if not (isinstance(n_episodes, int) and n_episodes >= 1):
        raise ValueError(f"n_episodes must be a positive int, got {n_episodes!r}")
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    rng = np.random.default_rng(seed)
    Q = np.zeros((int(n_states), int(n_actions)))
    returns = np.zeros(n_episodes)
    for episode in range(n_episodes):
        s, _ = env.reset(seed=int(seed) * 100_003 + episode)
        a = epsilon_greedy(Q[s], epsilon, rng)
        total = 0.0
        for _ in range(max_steps):
            s_next, r, terminated, truncated, _ = env.step(a)
            total += r
            a_next = epsilon_greedy(Q[s_next], epsilon, rng)
            if terminated:
                target = r
            elif method == "q_learning":
                target = r + gamma * Q[s_next].max()
            else:
                target = r + gamma * Q[s_next, a_next]
            Q[s, a] += alpha * (target - Q[s, a])
            if terminated or truncated:
                break
            s, a = s_next, a_next
        returns[episode] = total
    return Q, returns
