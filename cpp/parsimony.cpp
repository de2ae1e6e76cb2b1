#include "parsimony.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "interrupt.hpp"
#include "parallel.hpp"

namespace intrinsic_flow {

namespace {

std::string shape(Eigen::Index rows, Eigen::Index cols) {
  return "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
}

bool saved_at(long step, long save_every) { return save_every > 0 ? step % save_every == 0 : step == 0; }

// dst = lhs * rhs. A large product is cut into blocks of kBlockRows rows of dst, computed in
// parallel; the blocks depend on the sizes only, and each is the same single-threaded Eigen product
// whatever the thread count, so the result is bit-identical for any number of threads.
constexpr Eigen::Index kBlockRows = 32;
constexpr double kParallelWork = 16777216.0;  // m n k above which threads pay off (256^3; below, the
                                              // fork and join cost more than they save on 2 cores)

template <typename Dst, typename Lhs, typename Rhs>
void product_into(Dst&& dst, const Lhs& lhs, const Rhs& rhs) {
  const Eigen::Index m = lhs.rows();
  const double work = static_cast<double>(m) * static_cast<double>(rhs.cols()) * static_cast<double>(lhs.cols());
  if (work < kParallelWork || m <= kBlockRows) {
    dst.noalias() = lhs * rhs;
    return;
  }
  const Eigen::Index blocks = (m + kBlockRows - 1) / kBlockRows;
  parallel_for_static(blocks, true, [&](Eigen::Index b) {
    const Eigen::Index start = b * kBlockRows, rows = std::min(kBlockRows, m - start);
    dst.middleRows(start, rows).noalias() = lhs.middleRows(start, rows) * rhs;
  });
}

}  // namespace

DeepLinearLoss::DeepLinearLoss(std::vector<int> dims, RowMatrix inputs, RowMatrix targets, RowMatrix mask,
                               double scale, bool relu)
    : dims_(std::move(dims)),
      inputs_(std::move(inputs)),
      targets_(std::move(targets)),
      mask_(std::move(mask)),
      scale_(scale),
      relu_(relu),
      identity_input_(false) {
  if (dims_.size() < 2) throw std::invalid_argument("dims must hold d_0, ..., d_L with L >= 1");
  for (int d : dims_)
    if (d < 1) throw std::invalid_argument("every width in dims must be >= 1");
  if (!(scale_ > 0.0) || !std::isfinite(scale_)) throw std::invalid_argument("scale must be a finite number > 0");
  identity_input_ = inputs_.size() == 0;
  const Eigen::Index n = identity_input_ ? dims_.front() : inputs_.cols();
  if (!identity_input_ && inputs_.rows() != dims_.front())
    throw std::invalid_argument("inputs has shape " + shape(inputs_.rows(), inputs_.cols()) + ", expected (d_0 = " +
                                std::to_string(dims_.front()) + ", n)");
  if (targets_.rows() != dims_.back() || targets_.cols() != n)
    throw std::invalid_argument("targets has shape " + shape(targets_.rows(), targets_.cols()) + ", expected " +
                                shape(dims_.back(), n));
  if (mask_.size() != 0 && (mask_.rows() != targets_.rows() || mask_.cols() != targets_.cols()))
    throw std::invalid_argument("mask has shape " + shape(mask_.rows(), mask_.cols()) + ", expected " +
                                shape(targets_.rows(), targets_.cols()));
  offsets_.assign(1, 0);
  for (size_t l = 1; l < dims_.size(); ++l)
    offsets_.push_back(offsets_.back() + static_cast<Eigen::Index>(dims_[l]) * dims_[l - 1]);
  all_needed_.assign(dims_.size() - 1, true);
  hidden_.resize(dims_.size());
  back_.resize(dims_.size());
  for (size_t l = 1; l < dims_.size(); ++l) {
    hidden_[l].resize(dims_[l], n);
    back_[l].resize(dims_[l], n);
  }
}

double DeepLinearLoss::value_and_gradient(const double* theta, double* gradient) const {
  return value_and_gradient(theta, gradient, all_needed_);
}

double DeepLinearLoss::value_and_gradient(const double* theta, double* gradient,
                                          const std::vector<bool>& needed) const {
  const int L = depth();
  auto factor = [&](int l) { return ConstMatrixMap(theta + offsets_[l - 1], dims_[l], dims_[l - 1]); };
  // Forward: H_l = W_l H_{l-1}, with H_1 = W_1 when X = I (no product with the identity).
  for (int l = 1; l <= L; ++l) {
    if (l == 1 && identity_input_)
      hidden_[1] = factor(1);
    else
      product_into(hidden_[l], factor(l), l == 1 ? inputs_ : hidden_[l - 1]);
    if (relu_ && l < L) hidden_[l] = hidden_[l].cwiseMax(0.0);
  }
  // dl/dH_L = scale M ⊙ (H_L - Y); l = (1 / (2 scale)) ||dl/dH_L||^2.
  RowMatrix& residual = back_[L];
  residual = hidden_[L] - targets_;
  if (mask_.size() != 0) residual.array() *= mask_.array();
  const double value = 0.5 * scale_ * residual.squaredNorm();
  residual *= scale_;
  // Backward: grad W_l = (dl/dH_l) H_{l-1}^T, dl/dH_{l-1} = W_l^T (dl/dH_l) (⊙ 1[H_{l-1} > 0] under ReLU).
  int lowest_needed = L + 1;
  for (int l = 1; l <= L; ++l)
    if (needed[l - 1]) {
      lowest_needed = l;
      break;
    }
  for (int l = L; l >= lowest_needed; --l) {
    if (needed[l - 1]) {
      MatrixMap grad(gradient + offsets_[l - 1], dims_[l], dims_[l - 1]);
      if (l == 1 && identity_input_)
        grad = back_[1];
      else
        product_into(grad, back_[l], (l == 1 ? inputs_ : hidden_[l - 1]).transpose());
    }
    if (l > lowest_needed) {
      product_into(back_[l - 1], factor(l).transpose(), back_[l]);
      if (relu_) back_[l - 1].array() *= (hidden_[l - 1].array() > 0.0).cast<double>();
    }
  }
  return value;
}

TrainResult train_gradient_descent(const DeepLinearLoss& loss, const Vector& theta0,
                                   const std::vector<double>& learning_rates, double momentum, long n_steps,
                                   long save_every, double tol) {
  const int L = loss.depth();
  const Eigen::Index D = loss.n_params();
  if (theta0.size() != D)
    throw std::invalid_argument("theta0 has length " + std::to_string(theta0.size()) + ", expected " +
                                std::to_string(D));
  if (static_cast<int>(learning_rates.size()) != L)
    throw std::invalid_argument("learning_rates must have one entry per layer");
  if (n_steps < 0 || save_every < 0) throw std::invalid_argument("n_steps and save_every must be >= 0");
  // One learning rate per parameter, so that a single vector update serves every layer.
  Vector rates(D);
  std::vector<bool> needed(L);
  for (int l = 0; l < L; ++l) {
    needed[l] = learning_rates[l] != 0.0;
    rates.segment(loss.offsets()[l], loss.offsets()[l + 1] - loss.offsets()[l]).setConstant(learning_rates[l]);
  }
  const long max_saved = (save_every > 0 ? n_steps / save_every + 1 : 1) + 1;
  TrainResult result;
  result.states.resize(max_saved, D);
  result.losses.reserve(static_cast<size_t>(n_steps) + 1);
  result.saved_steps.reserve(static_cast<size_t>(max_saved));
  Vector theta = theta0, gradient = Vector::Zero(D), velocity = Vector::Zero(D);
  auto save = [&](long step) {
    result.states.row(static_cast<Eigen::Index>(result.saved_steps.size())) = theta.transpose();
    result.saved_steps.push_back(step);
  };
  long step = 0;
  for (;; ++step) {
    poll_interrupt();
    const double value = loss.value_and_gradient(theta.data(), gradient.data(), needed);
    result.losses.push_back(value);
    if (!std::isfinite(value) || !gradient.allFinite()) {
      result.finite = false;
      break;
    }
    if (tol > 0.0 && value <= tol) {
      result.converged = true;
      break;
    }
    if (step == n_steps) break;
    if (saved_at(step, save_every)) save(step);
    if (momentum != 0.0) {
      velocity = gradient + momentum * velocity;  // optax's trace: v_t = g_t + mu v_{t-1}
      theta.array() -= rates.array() * velocity.array();
    } else {
      theta.array() -= rates.array() * gradient.array();
    }
  }
  result.steps_done = step;
  // The last state is always saved (once).
  if (result.saved_steps.empty() || result.saved_steps.back() != step) save(step);
  result.states.conservativeResize(static_cast<Eigen::Index>(result.saved_steps.size()), D);
  return result;
}

TrainResult train_rk4(const DeepLinearLoss& loss, const Vector& theta0, double dt, long n_steps, long save_every) {
  if (!(dt > 0.0) || !std::isfinite(dt)) throw std::invalid_argument("dt must be a finite number > 0");
  if (n_steps < 0 || save_every < 0) throw std::invalid_argument("n_steps and save_every must be >= 0");
  if (theta0.size() != loss.n_params())
    throw std::invalid_argument("theta0 has length " + std::to_string(theta0.size()) + ", expected " +
                                std::to_string(loss.n_params()));
  std::vector<double> times(static_cast<size_t>(n_steps) + 1);
  std::vector<bool> save(times.size());
  for (long k = 0; k <= n_steps; ++k) {
    times[static_cast<size_t>(k)] = static_cast<double>(k) * dt;
    save[static_cast<size_t>(k)] = saved_at(k, save_every) || k == n_steps;
  }
  FlowResult flow = integrate_rk4(loss, theta0, times, save);
  TrainResult result;
  const Eigen::Index n_saved = static_cast<Eigen::Index>(flow.states.size());
  result.states.resize(n_saved, loss.n_params());
  for (Eigen::Index k = 0; k < n_saved; ++k) {
    result.states.row(k) = flow.states[static_cast<size_t>(k)].transpose();
    result.saved_steps.push_back(std::lround(flow.times[static_cast<size_t>(k)] / dt));
  }
  result.losses = flow.values;
  result.finite = flow.completed;
  result.steps_done = std::lround(flow.time_reached / dt);
  return result;
}

}  // namespace intrinsic_flow
