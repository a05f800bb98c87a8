// A brute-force float64 reference of the GHM losses and the baselines, written from the spec
// (the reference GHM semantics summarised in docs/losses.md) and from losses/baselines.h, and
// nothing else: it shares no code with losses/. It is slow and plain on purpose: one loop per
// step of the reference algorithm, in the order the spec lists them.
//
// What is float32 and what is double:
//   * the bin edges are float32 values, as in the reference: e_i = f32(i) / f32(M), and the last
//     edge is f32(1 + 1e-6) = 1.00000095 (GHM-C) or 1e3 (GHM-R);
//   * membership is the half-open interval e_i <= g < e_{i+1} against those float32 edges;
//   * g, the per-element loss and its derivative are double, from the float32 inputs through a
//     double sigmoid / sqrt; the EMA state S_i is double; w = tot / (S_i * n) is double.
// So the reference is the exact value of the spec's formulas on the given float32 inputs, up to
// the one place where float32 matters by design: which bin an element whose g sits within a few
// float32 ulps of an edge falls in. Those elements are flagged ("near edge") so tests can allow
// them to move between neighbouring bins, as the spec advises (section 1.4, last bullets).
//
// Layout: every classification tensor is a flat row-major [N, K] vector (targets and weights
// already expanded: see expand_labels / expand_row_weights); every regression tensor is [N, D].
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ghm::testing::reference {

// |g - e| below which an element counts as "near" the interior edge e. The fast code computes g
// in float32: a float32 sigmoid or sqrt/division is off by a few ulps, and an ulp of a value in
// [0.5, 1) is 2^-24 (1 - p is exact, so it carries p's absolute error). 8 ulps of that scale
// covers both GHM-C (absolute error of p) and GHM-R (relative error of a g <= 1).
inline constexpr double kNearEdge = 8.0 / 16777216.0;  // 8 * 2^-24 ~ 4.8e-7

// ---- elementwise building blocks (double) ------------------------------------------------------

inline double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// log(1 + exp(x)) without overflow.
inline double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }

// BCE with logits: -y log p - (1 - y) log(1 - p) = max(x,0) - x y + log(1 + exp(-|x|)).
inline double bce_term(double x, double y) { return std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x))); }

// ---- targets ----------------------------------------------------------------------------------

// Labels [N] -> one-hot [N, K]: a label in [0, K) sets that column; K or a negative label is
// background (an all-zero row).
inline std::vector<float> expand_labels(const std::vector<std::int64_t>& labels, std::int64_t k) {
  std::vector<float> y(labels.size() * static_cast<std::size_t>(k), 0.0f);
  for (std::size_t r = 0; r < labels.size(); ++r)
    if (labels[r] >= 0 && labels[r] < k)
      y[r * static_cast<std::size_t>(k) + static_cast<std::size_t>(labels[r])] = 1.0f;
  return y;
}

// Row weights [N] -> [N, K].
inline std::vector<float> expand_row_weights(const std::vector<float>& w, std::int64_t k) {
  std::vector<float> out;
  for (float v : w)
    for (std::int64_t c = 0; c < k; ++c) out.push_back(v);
  return out;
}

// ---- GHM ---------------------------------------------------------------------------------------

// Edges [bins + 1] in float32, as the reference builds them.
inline std::vector<float> ghm_edges(int bins, float last_edge) {
  std::vector<float> e(static_cast<std::size_t>(bins) + 1);
  for (int i = 0; i <= bins; ++i) e[static_cast<std::size_t>(i)] = static_cast<float>(i) / static_cast<float>(bins);
  e[static_cast<std::size_t>(bins)] = last_edge;
  return e;
}
inline float ghm_c_last_edge() { return 1.0f + 1e-6f; }  // 1.00000095 in float32
inline float ghm_r_last_edge() { return 1e3f; }

// The bin of g: the i with e_i <= g < e_{i+1}, or -1 (g outside [e_0, e_M), or NaN).
inline int find_bin(double g, const std::vector<float>& edges) {
  const int bins = static_cast<int>(edges.size()) - 1;
  for (int i = 0; i < bins; ++i)
    if (static_cast<double>(edges[static_cast<std::size_t>(i)]) <= g &&
        g < static_cast<double>(edges[static_cast<std::size_t>(i) + 1]))
      return i;
  return -1;
}

// The EMA state S_i, in double.
struct State {
  std::vector<double> acc_sum;  // [bins]
  explicit State(int bins = 0) : acc_sum(static_cast<std::size_t>(bins), 0.0) {}
};

// What one call (one level) computed.
struct Call {
  std::vector<std::int64_t> num_in_bin;  // [bins] R_i
  std::vector<std::int64_t> near_edge;   // [bins + 1] valid elements within kNearEdge of interior edge j
  std::int64_t near_total = 0;           // sum of near_edge
  std::vector<double> bin_weight;        // [bins] tot / (S_i n), 0 for empty bins
  std::vector<double> acc_sum;           // [bins] S after the call; empty without momentum
  double tot = 1;
  int nonempty_bins = 0;
  double loss = 0;  // this call's loss, times loss_weight

  // How far bin i's count may move because of near-edge elements: those at e_i or e_{i+1}.
  std::int64_t count_slack(int i) const {
    return near_edge[static_cast<std::size_t>(i)] + near_edge[static_cast<std::size_t>(i) + 1];
  }
};

struct Result {
  double loss = 0;             // sum of the calls' losses
  std::vector<double> grad;    // dL/dpred, upstream gradient 1
  std::vector<double> weight;  // each element's w (0 when invalid)
  std::vector<Call> calls;
};

struct GhmParams {
  int bins = 10;
  double momentum = 0;
  double loss_weight = 1;
};

// The per-element quantities one GHM call needs.
struct Elements {
  std::vector<double> g;      // gradient norm, detached
  std::vector<double> term;   // the per-element loss (BCE or ASL1)
  std::vector<double> dterm;  // its derivative w.r.t. pred
  std::vector<float> label_weight;
};

enum class TotRule { CountValid, SumWeights };  // GHM-C counts valid elements; GHM-R sums weights

// Runs the reference loop of the spec over elements [begin, end), which is one call.
inline Call ghm_call(const Elements& el, std::size_t begin, std::size_t end, const std::vector<float>& edges,
                     const GhmParams& p, TotRule tot_rule, State& state, Result& out) {
  const int bins = static_cast<int>(edges.size()) - 1;
  Call call;
  call.num_in_bin.assign(static_cast<std::size_t>(bins), 0);
  call.near_edge.assign(static_cast<std::size_t>(bins) + 1, 0);
  call.bin_weight.assign(static_cast<std::size_t>(bins), 0.0);

  // tot: a count of valid elements, or the sum of the weights; at least 1.
  double tot = 0;
  for (std::size_t e = begin; e < end; ++e) {
    if (tot_rule == TotRule::CountValid)
      tot += el.label_weight[e] > 0 ? 1.0 : 0.0;
    else
      tot += static_cast<double>(el.label_weight[e]);
  }
  tot = std::max(tot, 1.0);
  call.tot = tot;

  // Bin of every valid element; the histogram R_i; near-edge flags at interior edges.
  std::vector<int> bin_of(end - begin, -1);
  for (std::size_t e = begin; e < end; ++e) {
    if (!(el.label_weight[e] > 0)) continue;
    const int b = find_bin(el.g[e], edges);
    bin_of[e - begin] = b;
    if (b >= 0) ++call.num_in_bin[static_cast<std::size_t>(b)];
    for (int j = 1; j < bins; ++j)
      if (std::abs(el.g[e] - static_cast<double>(edges[static_cast<std::size_t>(j)])) <= kNearEdge) {
        ++call.near_edge[static_cast<std::size_t>(j)];
        ++call.near_total;
      }
  }

  // For every non-empty bin: update the EMA (momentum) and take w = tot / S_i or tot / R_i.
  int n = 0;
  for (int i = 0; i < bins; ++i) {
    const auto r = static_cast<double>(call.num_in_bin[static_cast<std::size_t>(i)]);
    if (r <= 0) continue;
    if (p.momentum > 0) {
      double& s = state.acc_sum[static_cast<std::size_t>(i)];
      s = p.momentum * s + (1.0 - p.momentum) * r;
      call.bin_weight[static_cast<std::size_t>(i)] = tot / s;
    } else {
      call.bin_weight[static_cast<std::size_t>(i)] = tot / r;
    }
    ++n;
  }
  if (n > 0)
    for (int i = 0; i < bins; ++i) call.bin_weight[static_cast<std::size_t>(i)] /= n;
  call.nonempty_bins = n;
  if (p.momentum > 0) call.acc_sum = state.acc_sum;

  // loss = loss_weight * sum(w * term) / tot; dL/dpred = loss_weight * w * dterm / tot.
  double sum = 0;
  for (std::size_t e = begin; e < end; ++e) {
    const int b = bin_of[e - begin];
    const double w = b >= 0 ? call.bin_weight[static_cast<std::size_t>(b)] : 0.0;
    out.weight[e] = w;
    out.grad[e] = p.loss_weight * w * el.dterm[e] / tot;
    sum += w * el.term[e];
  }
  call.loss = p.loss_weight * sum / tot;
  return call;
}

// Row offsets of the calls: `level_rows`, or one call over all rows when it is empty.
inline std::vector<std::int64_t> call_offsets(const std::vector<std::int64_t>& level_rows, std::int64_t rows) {
  if (level_rows.empty()) return {0, rows};
  return level_rows;
}

inline Result ghm_run(const Elements& el, std::int64_t rows, std::int64_t cols, const std::vector<float>& edges,
                      const GhmParams& p, TotRule tot_rule, State& state, const std::vector<std::int64_t>& level_rows) {
  Result out;
  out.grad.assign(el.g.size(), 0.0);
  out.weight.assign(el.g.size(), 0.0);
  const std::vector<std::int64_t> offsets = call_offsets(level_rows, rows);
  for (std::size_t c = 0; c + 1 < offsets.size(); ++c) {
    const auto begin = static_cast<std::size_t>(offsets[c] * cols);
    const auto end = static_cast<std::size_t>(offsets[c + 1] * cols);
    out.calls.push_back(ghm_call(el, begin, end, edges, p, tot_rule, state, out));
    out.loss += out.calls.back().loss;
  }
  return out;
}

// GHM-C. x, y, label_weight: [N, K] (y one-hot / binary, label_weight only its sign matters).
inline Result ghm_c(const std::vector<float>& x, const std::vector<float>& y, const std::vector<float>& label_weight,
                    std::int64_t k, const GhmParams& p, State& state,
                    const std::vector<std::int64_t>& level_rows = {}) {
  Elements el;
  el.label_weight = label_weight;
  for (std::size_t e = 0; e < x.size(); ++e) {
    const double xd = x[e], yd = y[e];
    const double prob = sigmoid(xd);
    el.g.push_back(std::abs(prob - yd));
    el.term.push_back(bce_term(xd, yd));
    el.dterm.push_back(prob - yd);
  }
  const std::int64_t rows = k > 0 ? static_cast<std::int64_t>(x.size()) / k : 0;
  return ghm_run(el, rows, k, ghm_edges(p.bins, ghm_c_last_edge()), p, TotRule::CountValid, state, level_rows);
}

// GHM-R. pred, target, label_weight: [N, D]; mu as the float32 the fast code receives.
inline Result ghm_r(const std::vector<float>& pred, const std::vector<float>& target,
                    const std::vector<float>& label_weight, std::int64_t d_cols, float mu, const GhmParams& p,
                    State& state, const std::vector<std::int64_t>& level_rows = {}) {
  Elements el;
  el.label_weight = label_weight;
  const double m = mu;
  for (std::size_t e = 0; e < pred.size(); ++e) {
    const double d = static_cast<double>(pred[e]) - static_cast<double>(target[e]);
    const double s = std::sqrt(d * d + m * m);
    el.g.push_back(std::abs(d / s));
    el.term.push_back(s - m);
    el.dterm.push_back(d / s);
  }
  const std::int64_t rows = d_cols > 0 ? static_cast<std::int64_t>(pred.size()) / d_cols : 0;
  return ghm_run(el, rows, d_cols, ghm_edges(p.bins, ghm_r_last_edge()), p, TotRule::SumWeights, state, level_rows);
}

// The GHM-C loss of one call with the weights frozen (as the reference's autograd sees them):
// loss_weight * sum(w * BCE(x, y)) / tot, for finite differences in double.
inline double ghm_c_frozen_loss(const std::vector<double>& x, const std::vector<float>& y, const std::vector<double>& w,
                                double tot, double loss_weight) {
  double s = 0;
  for (std::size_t e = 0; e < x.size(); ++e) s += w[e] * bce_term(x[e], y[e]);
  return loss_weight * s / tot;
}

// The GHM-R loss of one call with the weights frozen: loss_weight * sum(w * ASL1(d)) / tot.
inline double ghm_r_frozen_loss(const std::vector<double>& pred, const std::vector<float>& target,
                                const std::vector<double>& w, float mu, double tot, double loss_weight) {
  const double m = mu;
  double s = 0;
  for (std::size_t e = 0; e < pred.size(); ++e) {
    const double d = pred[e] - static_cast<double>(target[e]);
    s += w[e] * (std::sqrt(d * d + m * m) - m);
  }
  return loss_weight * s / tot;
}

// ---- baselines ----------------------------------------------------------------------------------

struct Loss {
  double loss = 0;
  std::vector<double> grad;  // dL/dpred, upstream gradient 1
};

// sum(weight * l) over elements, scaled by loss_weight / avg_factor, from per-element (l, dl/dpred).
template <class Term>
Loss weighted_sum(std::size_t n, const std::vector<float>& weight, double avg_factor, double loss_weight, Term term) {
  Loss out;
  out.grad.assign(n, 0.0);
  double s = 0;
  for (std::size_t e = 0; e < n; ++e) {
    double l = 0, dl = 0;
    term(e, l, dl);
    s += static_cast<double>(weight[e]) * l;
    out.grad[e] = loss_weight * static_cast<double>(weight[e]) * dl / avg_factor;
  }
  out.loss = loss_weight * s / avg_factor;
  return out;
}

inline Loss bce(const std::vector<float>& x, const std::vector<float>& y, const std::vector<float>& weight,
                double avg_factor, double loss_weight = 1) {
  return weighted_sum(x.size(), weight, avg_factor, loss_weight, [&](std::size_t e, double& l, double& dl) {
    l = bce_term(x[e], y[e]);
    dl = sigmoid(x[e]) - static_cast<double>(y[e]);
  });
}

// Focal loss for binary targets: l = -alpha_t (1 - p_t)^gamma log(p_t).
//   y = 1: l = -alpha (1-p)^gamma log p,       dl/dx = alpha (1-p)^gamma (gamma p log p - (1 - p))
//   y = 0: l = -(1-alpha) p^gamma log(1-p),    dl/dx = (1-alpha) p^gamma (p - gamma (1-p) log(1-p))
// with log p = -softplus(-x) and log(1-p) = -softplus(x) (no cancellation).
inline Loss focal(const std::vector<float>& x, const std::vector<float>& y, const std::vector<float>& weight,
                  double avg_factor, double alpha, double gamma, double loss_weight = 1) {
  return weighted_sum(x.size(), weight, avg_factor, loss_weight, [&](std::size_t e, double& l, double& dl) {
    const double xd = x[e];
    const double p = sigmoid(xd);
    if (y[e] > 0.5f) {
      const double log_p = -softplus(-xd);
      l = -alpha * std::pow(1 - p, gamma) * log_p;
      dl = alpha * std::pow(1 - p, gamma) * (gamma * p * log_p - (1 - p));
    } else {
      const double log_1mp = -softplus(xd);
      l = -(1 - alpha) * std::pow(p, gamma) * log_1mp;
      dl = (1 - alpha) * std::pow(p, gamma) * (p - gamma * (1 - p) * log_1mp);
    }
  });
}

// Smooth L1: 0.5 d^2 / beta if |d| < beta, else |d| - 0.5 beta; d = pred - target.
inline Loss smooth_l1(const std::vector<float>& pred, const std::vector<float>& target,
                      const std::vector<float>& weight, double avg_factor, float beta, double loss_weight = 1) {
  const double b = beta;
  return weighted_sum(pred.size(), weight, avg_factor, loss_weight, [&](std::size_t e, double& l, double& dl) {
    const double d = static_cast<double>(pred[e]) - static_cast<double>(target[e]);
    if (std::abs(d) < b) {
      l = 0.5 * d * d / b;
      dl = d / b;
    } else {
      l = std::abs(d) - 0.5 * b;
      dl = d > 0 ? 1.0 : -1.0;
    }
  });
}

// Authentic smooth L1: sqrt(d^2 + mu^2) - mu.
inline Loss asl1(const std::vector<float>& pred, const std::vector<float>& target, const std::vector<float>& weight,
                 double avg_factor, float mu, double loss_weight = 1) {
  const double m = mu;
  return weighted_sum(pred.size(), weight, avg_factor, loss_weight, [&](std::size_t e, double& l, double& dl) {
    const double d = static_cast<double>(pred[e]) - static_cast<double>(target[e]);
    const double s = std::sqrt(d * d + m * m);
    l = s - m;
    dl = d / s;
  });
}

// ---- comparison -------------------------------------------------------------------------------

// max |ours - ref| / max |ref| (or max |ours| when ref is all zero): the size of the worst error
// relative to the scale of the result, so tiny entries do not dominate.
inline double normalised_error(const std::vector<float>& ours, const std::vector<double>& ref) {
  double max_err = 0, max_ref = 0;
  for (std::size_t i = 0; i < ref.size() && i < ours.size(); ++i) {
    max_err = std::max(max_err, std::abs(static_cast<double>(ours[i]) - ref[i]));
    max_ref = std::max(max_ref, std::abs(ref[i]));
  }
  return max_ref > 0 ? max_err / max_ref : max_err;
}

// |got - want| / |want|, or |got| when want is 0.
inline double relative_error(double got, double want) {
  return want != 0 ? std::abs(got - want) / std::abs(want) : std::abs(got);
}

}  // namespace ghm::testing::reference
