"""Tests for lectures_utils.rl: dynamic programming against brute force and a linear solve, TD control
on Gymnasium's CliffWalking against value iteration, and bad inputs."""

import itertools

import gymnasium as gym
import numpy as np
import pytest

from lectures_utils import (bellman_residual, epsilon_greedy, greedy_policy, mdp_from_gymnasium, policy_evaluation,
                            policy_iteration, q_from_v, td_control, value_iteration)


def _random_mdp(n_states=4, n_actions=3, seed=0, leak=0.0):
    rng = np.random.default_rng(seed)
    P = rng.random((n_states, n_actions, n_states))
    P = P / P.sum(2, keepdims=True) * (1 - leak)
    R = rng.normal(size=(n_states, n_actions))
    return P, R


def _exact_value(P, R, policy, gamma):
    pi = np.eye(R.shape[1])[policy]
    P_pi = np.einsum("sa,sat->st", pi, P)
    return np.linalg.solve(np.eye(len(R)) - gamma * P_pi, (pi * R).sum(1))


def test_policy_evaluation_matches_the_linear_solve():
    P, R = _random_mdp(5, 3, seed=1)
    policy = np.array([0, 2, 1, 1, 0])
    V, sweeps = policy_evaluation(P, R, policy, 0.9)
    np.testing.assert_allclose(V, _exact_value(P, R, policy, 0.9), atol=1e-8)
    assert sweeps > 10


def test_stochastic_policy_is_the_mixture():
    P, R = _random_mdp(3, 2, seed=2)
    pi = np.array([[0.3, 0.7], [1.0, 0.0], [0.5, 0.5]])
    V, _ = policy_evaluation(P, R, pi, 0.8)
    P_pi = np.einsum("sa,sat->st", pi, P)
    np.testing.assert_allclose(V, np.linalg.solve(np.eye(3) - 0.8 * P_pi, (pi * R).sum(1)), atol=1e-8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_and_policy_iteration_find_the_best_of_all_deterministic_policies(seed):
    P, R = _random_mdp(4, 3, seed=seed)
    gamma = 0.9
    values = {pol: _exact_value(P, R, np.array(pol), gamma) for pol in itertools.product(range(3), repeat=4)}
    best_value = np.max(np.stack(list(values.values())), axis=0)  # an optimal policy is best in every state
    V, pol_vi, _ = value_iteration(P, R, gamma)
    pol_pi, V_pi, _ = policy_iteration(P, R, gamma)
    np.testing.assert_allclose(V, best_value, atol=1e-8)
    np.testing.assert_allclose(V_pi, best_value, atol=1e-8)
    np.testing.assert_allclose(values[tuple(pol_vi)], best_value, atol=1e-8)
    assert np.array_equal(pol_vi, pol_pi)
    assert bellman_residual(P, R, V, gamma) < 1e-9
    assert bellman_residual(P, R, np.zeros(4), gamma) > 0.1


def test_q_from_v_and_greedy_policy():
    P, R = _random_mdp(3, 2, seed=3)
    V = np.array([1.0, -1.0, 0.5])
    np.testing.assert_allclose(q_from_v(P, R, V, 0.5), R + 0.5 * np.einsum("sat,t->sa", P, V))
    assert greedy_policy(np.array([[1.0, 1.0], [0.0, 2.0]])).tolist() == [0, 1]


def test_mdp_from_gymnasium_frozen_lake():
    env = gym.make("FrozenLake-v1", is_slippery=True)
    P, R, terminal = mdp_from_gymnasium(env)
    assert P.shape == (16, 4, 16) and R.shape == (16, 4)
    assert terminal.sum() == 5  # four holes and the goal
    assert np.all(P[terminal] == 0)
    # from state 14 (left of the goal) moving right reaches the goal (reward 1) with probability 1/3
    assert abs(R[14, 2] - 1 / 3) < 1e-12
    V, _, _ = value_iteration(P, R, 0.99)
    assert 0.5 < V[0] < 0.6  # the known optimum of slippery 4x4 FrozenLake with gamma=0.99 is about 0.54


def test_q_learning_on_cliff_walking_finds_the_optimal_path():
    env = gym.make("CliffWalking-v0")
    P, R, _ = mdp_from_gymnasium(env)
    V, policy, _ = value_iteration(P, R, 1.0)
    assert V[36] == pytest.approx(-13)
    Q, returns = td_control(env, "q_learning", n_episodes=300, alpha=0.5, gamma=1.0, epsilon=0.1, seed=0)
    s, steps = 36, 0
    while s != 47 and steps < 50:
        a = int(np.argmax(Q[s]))
        assert a == policy[s] or np.isclose(q_from_v(P, R, V, 1.0)[s, a], V[s])
        s = int(np.argmax(P[s, a])) if P[s, a].sum() > 0 else 47
        steps += 1
    assert steps == 13
    assert returns.shape == (300,)


def test_td_control_is_deterministic():
    env = gym.make("CliffWalking-v0")
    Q1, r1 = td_control(env, "sarsa", n_episodes=20, seed=4)
    Q2, r2 = td_control(env, "sarsa", n_episodes=20, seed=4)
    assert np.array_equal(Q1, Q2) and np.array_equal(r1, r2)


def test_epsilon_greedy():
    rng = np.random.default_rng(0)
    q = np.array([0.0, 1.0, 0.5])
    assert all(epsilon_greedy(q, 0.0, rng) == 1 for _ in range(50))
    picks = np.array([epsilon_greedy(q, 1.0, rng) for _ in range(3000)])
    assert np.allclose(np.bincount(picks, minlength=3) / 3000, 1 / 3, atol=0.04)


def test_bad_inputs():
    P, R = _random_mdp()
    with pytest.raises(ValueError, match="shape"):
        value_iteration(P[:, :, :2], R, 0.9)
    with pytest.raises(ValueError, match="R must"):
        value_iteration(P, R[:, :2], 0.9)
    with pytest.raises(ValueError, match="gamma"):
        value_iteration(P, R, 1.5)
    with pytest.raises(ValueError, match="rows"):
        value_iteration(P * 2, R, 0.9)
    with pytest.raises(TypeError, match="numpy"):
        value_iteration(P.tolist(), R, 0.9)
    with pytest.raises(ValueError, match="policy"):
        policy_evaluation(P, R, np.array([0, 1]), 0.9)
    with pytest.raises(ValueError, match="actions"):
        policy_evaluation(P, R, np.array([0, 1, 5, 0]), 0.9)
    with pytest.raises(ValueError, match="epsilon"):
        epsilon_greedy(np.zeros(2), 1.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="method"):
        td_control(gym.make("CliffWalking-v0"), "dqn")
    with pytest.raises(TypeError, match="toy-text"):
        mdp_from_gymnasium(object())
    with pytest.raises(RuntimeError, match="converge"):
        value_iteration(np.tile(np.eye(4)[:, None, :], (1, 3, 1)), R, 1.0, max_iter=50)
