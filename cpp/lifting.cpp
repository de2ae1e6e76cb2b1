#include "lifting.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "interrupt.hpp"
#include "parallel.hpp"
#include "path_sums.hpp"

namespace intrinsic_flow {

namespace {
bool is_output(int v, int n_neurons, int n_outputs) { return v >= n_neurons - n_outputs; }

// A Ctrl-C check between sweeps, on the calling thread only (a batch runs this inside a parallel
// loop, where no check may run: interrupt.hpp).
void poll_outside_parallel() {
#ifdef _OPENMP
  if (omp_in_parallel()) return;
#endif
  poll_interrupt();
}
}  // namespace

PathGraph::PathGraph(int n_neurons, int n_inputs, int n_outputs, std::vector<int> param_src,
                     std::vector<int> param_dst)
    : n_neurons_(n_neurons),
      n_inputs_(n_inputs),
      n_outputs_(n_outputs),
      param_src_(std::move(param_src)),
      param_dst_(std::move(param_dst)) {
  // n_inputs = 0 is a graph whose paths all start at a bias (the graph of the edges on some path of
  // a SharedReLUNet whose inputs reach no output).
  if (n_inputs < 0 || n_outputs < 1 || n_inputs + n_outputs > n_neurons)
    throw std::invalid_argument("PathGraph: need n_inputs >= 0, n_outputs >= 1 and n_inputs + n_outputs <= n_neurons");
  if (param_src_.size() != param_dst_.size())
    throw std::invalid_argument("PathGraph: param_src and param_dst differ in length");
  out_params_.assign(n_neurons, {});
  in_params_.assign(n_neurons, {});
  bias_of_.assign(n_neurons, -1);
  for (int p = 0; p < n_params(); ++p) {
    const int s = param_src_[p], t = param_dst_[p];
    if (t < n_inputs || t >= n_neurons)
      throw std::invalid_argument("PathGraph: parameter " + std::to_string(p) + " ends at neuron " + std::to_string(t) + ", which is an input or out of range");
    if (s < -1 || s >= n_neurons)
      throw std::invalid_argument("PathGraph: parameter " + std::to_string(p) + " starts at neuron " + std::to_string(s) + ", out of range");
    if (s >= 0 && is_output(s, n_neurons, n_outputs))
      throw std::invalid_argument("PathGraph: edge " + std::to_string(s) + " -> " + std::to_string(t) + " leaves an output neuron");
    in_params_[t].push_back(p);
    if (s == -1) {
      if (bias_of_[t] != -1) throw std::invalid_argument("PathGraph: neuron " + std::to_string(t) + " has two biases");
      bias_of_[t] = p;
    } else {
      out_params_[s].push_back(p);
    }
  }
  for (int v = 0; v < n_neurons; ++v) {
    auto& outs = out_params_[v];
    std::sort(outs.begin(), outs.end(), [&](int a, int b) { return param_dst_[a] < param_dst_[b]; });
    for (size_t k = 1; k < outs.size(); ++k)
      if (param_dst_[outs[k]] == param_dst_[outs[k - 1]])
        throw std::invalid_argument("PathGraph: duplicate edge " + std::to_string(v) + " -> " + std::to_string(param_dst_[outs[k]]));
    const bool input = v < n_inputs, output = is_output(v, n_neurons, n_outputs);
    if (!output && outs.empty())
      throw std::invalid_argument("PathGraph: neuron " + std::to_string(v) + " is dangling (no outgoing edge)");
    if (!input && in_params_[v].empty())
      throw std::invalid_argument("PathGraph: neuron " + std::to_string(v) + " is dangling (no incoming edge or bias)");
    if (!input && !output) hidden_.push_back(v);
  }
  topo_ = topological_order();
  // Number of paths from each neuron to the outputs, in reverse topological order.
  std::vector<double> to_outputs(n_neurons, 0.0);
  for (auto it = topo_.rbegin(); it != topo_.rend(); ++it) {
    const int v = *it;
    if (is_output(v, n_neurons, n_outputs)) { to_outputs[v] = 1.0; continue; }
    for (int p : out_params_[v]) to_outputs[v] += to_outputs[param_dst_[p]];
  }
  for (int v = 0; v < n_inputs; ++v) n_paths_ += to_outputs[v];
  for (int v = 0; v < n_neurons; ++v)
    if (bias_of_[v] >= 0) n_paths_ += to_outputs[v];
}

std::vector<int> PathGraph::topological_order() const {
  std::vector<int> indegree(n_neurons_, 0), order;
  order.reserve(n_neurons_);
  for (int p = 0; p < n_params(); ++p)
    if (param_src_[p] >= 0) ++indegree[param_dst_[p]];
  std::vector<int> ready;
  for (int v = n_neurons_ - 1; v >= 0; --v)
    if (indegree[v] == 0) ready.push_back(v);
  while (!ready.empty()) {
    const int v = ready.back();
    ready.pop_back();
    order.push_back(v);
    for (int p : out_params_[v])
      if (--indegree[param_dst_[p]] == 0) ready.push_back(param_dst_[p]);
  }
  if (static_cast<int>(order.size()) != n_neurons_)
    throw std::invalid_argument("PathGraph: the edges contain a cycle");
  return order;
}

void PathGraph::enumerate_paths(double max_paths) {
  if (paths_ready()) return;
  if (n_paths_ > max_paths)
    throw std::length_error("PathGraph: " + std::to_string(n_paths_) + " paths exceed the limit of " + std::to_string(max_paths));
  path_offsets_.reserve(static_cast<size_t>(n_paths_) + 1);
  path_offsets_.push_back(0);
  std::vector<int> prefix;
  for (int v = 0; v < n_inputs_; ++v) dfs_paths(v, prefix);
  for (int v = 0; v < n_neurons_; ++v) {
    if (bias_of_[v] < 0) continue;
    prefix.assign(1, bias_of_[v]);
    dfs_paths(v, prefix);
    prefix.clear();
  }
}

void PathGraph::dfs_paths(int neuron, std::vector<int>& prefix) {
  if (is_output(neuron, n_neurons_, n_outputs_)) {
    path_params_.insert(path_params_.end(), prefix.begin(), prefix.end());
    path_offsets_.push_back(static_cast<std::int64_t>(path_params_.size()));
    max_path_length_ = std::max<int>(max_path_length_, static_cast<int>(prefix.size()));
    return;
  }
  for (int p : out_params_[neuron]) {
    prefix.push_back(p);
    dfs_paths(param_dst_[p], prefix);
    prefix.pop_back();
  }
}

void PathGraph::check_ready() const {
  if (!paths_ready()) throw std::logic_error("PathGraph: paths are not enumerated (call enumerate_paths first)");
}

void PathGraph::balanced(const double* theta, double* point, bool normalise) const {
  // Rescaling neuron v (incoming x e^{sigma_v}, outgoing x e^{-sigma_v}) leaves phi unchanged and
  // multiplies J by a diagonal matrix on the right; theta -> c theta multiplies each row of J by a
  // power of c. Neither changes a rank. The balanced point, the unique minimiser of |theta|^2 on the
  // rescaling orbit, keeps J well conditioned whatever the rescaling, and the normalisation removes
  // the global scale (theta x 1e30 has the same normalised point as theta).
  //
  // Coordinate descent on the log-scales sigma, neuron by neuron in index order: each step balances
  // one neuron exactly, sigma_v += (L_out - L_in) / 4 with L = log sum_e theta_e^2 e^{2 (sigma_dst -
  // sigma_src)} evaluated by log-sum-exp, so squares never leave the floating-point range.
  const int D = n_params();
  constexpr double minus_inf = -std::numeric_limits<double>::infinity();
  std::vector<double> log_abs(D);
  double log_mean = 0.0;
  int nonzero = 0;
  for (int e = 0; e < D; ++e) {
    log_abs[e] = theta[e] == 0.0 ? minus_inf : std::log(std::abs(theta[e]));
    if (theta[e] != 0.0) log_mean += log_abs[e], ++nonzero;
  }
  log_mean = nonzero > 0 ? log_mean / nonzero : 0.0;
  // Centred logs keep every L of order one, so rounding stays far below the tolerance.
  for (int e = 0; e < D; ++e) log_abs[e] -= log_mean;
  std::vector<double> sigma(n_neurons_, 0.0);
  auto shifted = [&](int e) { return log_abs[e] + sigma[param_dst_[e]] - (param_src_[e] < 0 ? 0.0 : sigma[param_src_[e]]); };
  auto log_sum_squares = [&](const std::vector<int>& group) {
    if (group.size() == 1) return 2.0 * shifted(group[0]);  // the same value, without exp and log
    double top = minus_inf;
    for (int e : group) top = std::max(top, shifted(e));
    if (top == minus_inf) return minus_inf;
    double sum = 0.0;
    for (int e : group) sum += std::exp(2.0 * (shifted(e) - top));
    return 2.0 * top + std::log(sum);
  };
  for (int sweep = 0; sweep < kBalanceMaxSweeps; ++sweep) {
    poll_outside_parallel();
    double largest_step = 0.0;
    for (int v : hidden_) {
      const double in = log_sum_squares(in_params_[v]), out = log_sum_squares(out_params_[v]);
      if (in == minus_inf || out == minus_inf) continue;  // cannot be balanced: left as it is
      const double step = 0.25 * (out - in);              // |in|^2 s^2 = |out|^2 / s^2
      sigma[v] += step;
      largest_step = std::max(largest_step, std::abs(step));
    }
    if (largest_step <= kBalanceTolerance) break;
  }
  double shift = 0.0;  // log of the factor applied to every entry
  if (normalise) {
    double mean = 0.0;
    for (int e = 0; e < D; ++e)
      if (theta[e] != 0.0) mean += shifted(e);
    shift = -(nonzero > 0 ? mean / nonzero : 0.0) - log_mean;
  }
  for (int e = 0; e < D; ++e)
    point[e] = times_exp(theta[e], sigma[param_dst_[e]] - (param_src_[e] < 0 ? 0.0 : sigma[param_src_[e]]) + shift);
}

void PathGraph::lift(const double* theta, double* lifted) const {
  const std::int64_t d = static_cast<std::int64_t>(path_offsets_.size()) - 1;
  for (std::int64_t q = 0; q < d; ++q) {
    double product = 1.0;
    for (std::int64_t k = path_offsets_[q]; k < path_offsets_[q + 1]; ++k) product *= theta[path_params_[k]];
    lifted[q] = product;
  }
}

void PathGraph::jacobian(const double* theta, double* jac) const {
  const std::int64_t d = static_cast<std::int64_t>(path_offsets_.size()) - 1;
  const int D = n_params();
  constexpr int kStackPath = 64;
  double stack_prefix[kStackPath + 1];
  std::vector<double> heap_prefix(max_path_length_ >= kStackPath ? max_path_length_ + 1 : 0);
  double* prefix = max_path_length_ >= kStackPath ? heap_prefix.data() : stack_prefix;
  for (std::int64_t q = 0; q < d; ++q) {
    const int* params = path_params_.data() + path_offsets_[q];
    const int length = static_cast<int>(path_offsets_[q + 1] - path_offsets_[q]);
    // Row by row: zero it, then write its few nonzeros while it is still in cache (one pass
    // over the d x D output). d/d theta_e of a product: the product of the other factors, by
    // prefix and suffix products (no division, so zero weights are handled).
    double* row = jac + q * D;
    std::fill(row, row + D, 0.0);
    prefix[0] = 1.0;
    for (int k = 0; k < length; ++k) prefix[k + 1] = prefix[k] * theta[params[k]];
    double suffix = 1.0;
    for (int k = length - 1; k >= 0; --k) {
      row[params[k]] = prefix[k] * suffix;
      suffix *= theta[params[k]];
    }
  }
}

void PathGraph::vjp(const double* theta, const double* w, double* out) const {
  // (J^T w)_e = sum_{p ∋ e} w_p prod_{g in p, g != e} theta_g: one prefix/suffix sweep per path,
  // O(paths x depth); contributions reach each out[e] in path order, whatever the threads.
  const std::int64_t d = static_cast<std::int64_t>(path_offsets_.size()) - 1;
  std::fill(out, out + n_params(), 0.0);
  constexpr int kStackPath = 64;
  double stack_prefix[kStackPath + 1];
  std::vector<double> heap_prefix(max_path_length_ >= kStackPath ? max_path_length_ + 1 : 0);
  double* prefix = max_path_length_ >= kStackPath ? heap_prefix.data() : stack_prefix;
  for (std::int64_t q = 0; q < d; ++q) {
    const int* params = path_params_.data() + path_offsets_[q];
    const int length = static_cast<int>(path_offsets_[q + 1] - path_offsets_[q]);
    const double weight = w[q];
    prefix[0] = 1.0;
    for (int k = 0; k < length; ++k) prefix[k + 1] = prefix[k] * theta[params[k]];
    double suffix = 1.0;
    for (int k = length - 1; k >= 0; --k) {
      out[params[k]] += weight * (prefix[k] * suffix);
      suffix *= theta[params[k]];
    }
  }
}

void PathGraph::jvp(const double* theta, const double* v, double* out) const {
  // (J v)_p = sum_{e in p} v_e prod_{g in p, g != e} theta_g, the derivative of the product along
  // v: carried as a dual number (product, derivative) along the path, O(paths x depth).
  const std::int64_t d = static_cast<std::int64_t>(path_offsets_.size()) - 1;
  for (std::int64_t q = 0; q < d; ++q) {
    double product = 1.0, derivative = 0.0;
    for (std::int64_t k = path_offsets_[q]; k < path_offsets_[q + 1]; ++k) {
      const int e = path_params_[k];
      derivative = derivative * theta[e] + product * v[e];
      product *= theta[e];
    }
    out[q] = derivative;
  }
}

void PathGraph::jacobian_derivative(const double* theta, const double* direction, double* djac) const {
  const std::int64_t d = static_cast<std::int64_t>(path_offsets_.size()) - 1;
  const int D = n_params();
  std::fill(djac, djac + d * D, 0.0);
  for (std::int64_t q = 0; q < d; ++q) {
    const int* params = path_params_.data() + path_offsets_[q];
    const int length = static_cast<int>(path_offsets_[q + 1] - path_offsets_[q]);
    // d/dt prod_{g != e} (theta_g + t v_g) = sum_{g != e} v_g prod_{k != e, g} theta_k
    for (int e = 0; e < length; ++e) {
      double total = 0.0;
      for (int g = 0; g < length; ++g) {
        if (g == e) continue;
        double product = direction[params[g]];
        for (int k = 0; k < length; ++k)
          if (k != e && k != g) product *= theta[params[k]];
        total += product;
      }
      djac[q * D + params[e]] = total;
    }
  }
}

void PathGraph::conserved(const double* theta, double* laws) const {
  for (size_t j = 0; j < hidden_.size(); ++j) {
    const int v = hidden_[j];
    double value = 0.0;
    for (int p : in_params_[v]) value += theta[p] * theta[p];
    for (int p : out_params_[v]) value -= theta[p] * theta[p];
    laws[j] = value;
  }
}

void PathGraph::conserved_jacobian(const double* theta, double* jac) const {
  const int D = n_params();
  std::fill(jac, jac + hidden_.size() * D, 0.0);
  for (size_t j = 0; j < hidden_.size(); ++j) {
    const int v = hidden_[j];
    for (int p : in_params_[v]) jac[j * D + p] = 2.0 * theta[p];
    for (int p : out_params_[v]) jac[j * D + p] = -2.0 * theta[p];
  }
}

void PathGraph::gram(const double* theta, double* gram_out) const {
  // G = J^T J by sums over partial paths (path_sums.hpp), shared with the exact ranks over F_p.
  path_sum_gram<double>(view(), theta, gram_out);
}

void PathGraph::path_sums(const double* a, double* forward, double* backward) const {
  intrinsic_flow::path_sums<double>(view(), a, forward, backward);
}

void PathGraph::log_path_sums(const double* log_w, double q, double* forward, double* backward) const {
  intrinsic_flow::log_path_sums(view(), log_w, q, forward, backward);
}

PathGraphView PathGraph::view() const {
  return {n_neurons_, n_inputs_, n_outputs_, param_src_, param_dst_, topo_, in_params_, out_params_};
}

int PathGraph::exact_rank(const double* theta) const {
  // J diag(theta) = diag(phi) A (docs/theory/ranks.md): rows of paths with one zero parameter e are
  // multiples of the unit vector e_e, rows of paths without zero are diag(phi) A on the nonzero
  // parameters, and the kernel of that incidence matrix is {x_e = pi(dst e) - pi(src e)} with pi
  // free on the hidden neurons that some all-nonzero path visits. Hence
  //   rank J = #{e : src e reachable and dst e co-reachable} - #{hidden v reachable and co-reachable},
  // reachability taken through nonzero parameters from the inputs and nonzero biases.
  const int n = n_neurons_;
  std::vector<char> reach(n, 0), coreach(n, 0);
  for (int v : topo_) {
    if (v < n_inputs_) { reach[v] = 1; continue; }
    for (int p : in_params_[v])
      if (theta[p] != 0.0 && (param_src_[p] < 0 || reach[param_src_[p]])) reach[v] = 1;
  }
  for (auto it = topo_.rbegin(); it != topo_.rend(); ++it) {
    const int v = *it;
    if (is_output(v, n, n_outputs_)) { coreach[v] = 1; continue; }
    for (int p : out_params_[v])
      if (theta[p] != 0.0 && coreach[param_dst_[p]]) coreach[v] = 1;
  }
  int rank = 0;
  for (int e = 0; e < n_params(); ++e)
    if ((param_src_[e] < 0 || reach[param_src_[e]]) && coreach[param_dst_[e]]) ++rank;
  for (int v : hidden_)
    if (reach[v] && coreach[v]) --rank;
  return rank;
}

Eigen::VectorXi PathGraph::exact_rank_batch(const RowMatrixRef& thetas) const {
  if (thetas.cols() != n_params())
    throw std::invalid_argument("exact_rank_batch: thetas has " + std::to_string(thetas.cols()) + " columns, expected " +
                                std::to_string(n_params()));
  // O(D) per sample: threads pay off only for many samples.
  Eigen::VectorXi ranks(thetas.rows());
  parallel_for_static<Eigen::Index>(thetas.rows(), thetas.rows() * thetas.cols() > 100000,
                                    [&](Eigen::Index b) { ranks(b) = exact_rank(thetas.row(b).data()); });
  return ranks;
}

}  // namespace intrinsic_flow
