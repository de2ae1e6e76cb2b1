// abc-parameterised networks: forward, backward and SGD; see parameterizations.hpp.
#include "parameterizations.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "parallel.hpp"

namespace intrinsic_flow {

namespace {

using Index = Eigen::Index;

// Below this many flops a product runs on the calling thread: waking the other threads costs more
// than it saves, and far more on a loaded machine (each parallel region waits for a descheduled
// thread). The blocks are the same either way, so the result is too.
constexpr double kParallelFlops = 1 << 23;

// body(r, n) on the fixed row blocks [r, r + n) of a matrix with `rows` rows, in parallel when the
// product is worth it (`flops` is its cost).
template <typename Body>
void for_row_blocks(Index rows, double flops, Body&& body) {
  const Index block = AbcNetwork::kBlockRows;
  const Index n_blocks = (rows + block - 1) / block;
  parallel_for_static<Index>(n_blocks, n_blocks > 1 && flops >= kParallelFlops, [&](Index b) {
    const Index start = b * block;
    body(start, std::min(block, rows - start));
  });
}

// body(c, n) on blocks of columns (samples), for elementwise work.
template <typename Body>
void for_col_blocks(Index cols, Index rows, Body&& body) {
  const Index block = 16;
  const Index n_blocks = (cols + block - 1) / block;
  parallel_for_static<Index>(n_blocks, n_blocks > 1 && static_cast<double>(rows) * cols * 64 >= kParallelFlops, [&](Index b) {
    const Index start = b * block;
    body(start, std::min(block, cols - start));
  });
}

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

double activate(Activation act, double h) {
  switch (act) {
    case Activation::relu: return h < 0.0 ? 0.0 : h;  // a NaN stays NaN
    case Activation::gelu: return 0.5 * h * (1.0 + std::erf(h * kInvSqrt2));
    case Activation::elu: return h > 0.0 ? h : std::expm1(h);
    case Activation::tanh: return std::tanh(h);
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-h));
  }
  return 0.0;
}

double derivative(Activation act, double h) {
  switch (act) {
    case Activation::relu: return h > 0.0 ? 1.0 : (h <= 0.0 ? 0.0 : h);  // NaN for NaN
    case Activation::gelu: return 0.5 * (1.0 + std::erf(h * kInvSqrt2)) + h * kInvSqrt2Pi * std::exp(-0.5 * h * h);
    case Activation::elu: return h > 0.0 ? 1.0 : std::exp(h);  // exp(NaN) = NaN
    case Activation::tanh: {
      const double t = std::tanh(h);
      return 1.0 - t * t;
    }
    case Activation::sigmoid: {
      const double s = 1.0 / (1.0 + std::exp(-h));
      return s * (1.0 - s);
    }
  }
  return 0.0;
}

}  // namespace

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::relu;
  if (name == "gelu") return Activation::gelu;
  if (name == "elu") return Activation::elu;
  if (name == "tanh") return Activation::tanh;
  if (name == "sigmoid") return Activation::sigmoid;
  throw std::invalid_argument("activation = '" + name + "' is not known; accepted: relu, gelu, elu, tanh, sigmoid");
}

AbcLoss parse_abc_loss(const std::string& name) {
  if (name == "cross_entropy") return AbcLoss::cross_entropy;
  if (name == "mse") return AbcLoss::mse;
  throw std::invalid_argument("loss = '" + name + "' is not known; accepted: cross_entropy, mse");
}

AbcNetwork::AbcNetwork(std::vector<RowMatrix> weights, Vector bias0, std::vector<double> scales,
                       const std::string& activation, const std::string& loss, std::vector<Vector> biases)
    : weights_(std::move(weights)), bias0_(std::move(bias0)), biases_(std::move(biases)), scales_(std::move(scales)),
      activation_(parse_activation(activation)), loss_(parse_abc_loss(loss)) {
  if (weights_.size() < 2) throw std::invalid_argument("an abc network needs at least 2 weight matrices");
  if (scales_.size() != weights_.size())
    throw std::invalid_argument("scales has " + std::to_string(scales_.size()) + " entries, expected one per weight matrix (" +
                                std::to_string(weights_.size()) + ")");
  const Index width = weights_.front().rows();
  for (size_t l = 0; l < weights_.size(); ++l) {
    const RowMatrix& w = weights_[l];
    const bool last = l + 1 == weights_.size();
    if ((l > 0 && w.cols() != width) || (!last && w.rows() != width) || w.size() == 0)
      throw std::invalid_argument("weight matrix " + std::to_string(l) + " has shape (" + std::to_string(w.rows()) + ", " +
                                  std::to_string(w.cols()) + "); hidden layers must all have width " + std::to_string(width));
  }
  if (bias0_.size() != width)
    throw std::invalid_argument("bias0 has " + std::to_string(bias0_.size()) + " entries, expected the width " + std::to_string(width));
  if (!biases_.empty()) {
    if (biases_.size() + 1 != weights_.size())
      throw std::invalid_argument("biases has " + std::to_string(biases_.size()) + " entries, expected none or one per later layer (" +
                                  std::to_string(weights_.size() - 1) + ")");
    for (size_t l = 0; l < biases_.size(); ++l)
      if (biases_[l].size() != weights_[l + 1].rows())
        throw std::invalid_argument("bias " + std::to_string(l + 1) + " has " + std::to_string(biases_[l].size()) + " entries, expected " +
                                    std::to_string(weights_[l + 1].rows()));
    biases_grad_ = biases_;
  }
}

void AbcNetwork::ensure_batch(Index batch) {
  if (batch == batch_) return;
  const Index width = weights_.front().rows();
  const size_t n_hidden = weights_.size() - 1;
  pre_.assign(n_hidden, ColMatrix(width, batch));
  post_.assign(n_hidden, ColMatrix(width, batch));
  out_.resize(output_dim(), batch);
  out_grad_.resize(output_dim(), batch);
  delta_.resize(width, batch);
  delta_next_.resize(width, batch);
  bias_grad_.resize(width);
  batch_ = batch;
}

void AbcNetwork::forward(const ColRef& x) {
  if (x.rows() != input_dim() || x.cols() == 0)
    throw std::invalid_argument("x has " + std::to_string(x.rows()) + " features, expected " + std::to_string(input_dim()));
  ensure_batch(x.cols());
  const size_t last = weights_.size() - 1;
  for (size_t l = 0; l <= last; ++l) {
    const ColRef in = l == 0 ? x : ColRef(post_[l - 1]);
    ColMatrix& out = l == last ? out_ : pre_[l];
    const RowMatrix& w = weights_[l];
    const double s = scales_[l];
    for_row_blocks(w.rows(), 2.0 * static_cast<double>(w.size()) * static_cast<double>(in.cols()), [&](Index r, Index n) {
      out.middleRows(r, n).noalias() = w.middleRows(r, n) * in;
      if (l == 0) out.middleRows(r, n).colwise() += bias0_.segment(r, n);
      out.middleRows(r, n) *= s;
      if (l > 0 && !biases_.empty()) out.middleRows(r, n).colwise() += biases_[l - 1].segment(r, n);  // unscaled
    });
    if (l == last) break;
    ColMatrix& act = post_[l];
    const Activation kind = activation_;
    for_col_blocks(out.cols(), out.rows(), [&](Index c, Index n) {
      act.middleCols(c, n) = out.middleCols(c, n).unaryExpr([kind](double h) { return activate(kind, h); });
    });
  }
}

double AbcNetwork::loss_value(const ColRef& targets) {
  const Index batch = out_.cols();
  double total = 0.0;
  for (Index j = 0; j < batch; ++j) {
    if (loss_ == AbcLoss::mse) {
      out_grad_.col(j) = out_.col(j) - targets.col(j);
      total += 0.5 * out_grad_.col(j).squaredNorm();
    } else {
      const double top = out_.col(j).maxCoeff();
      const double log_norm = top + std::log((out_.col(j).array() - top).exp().sum());
      total -= (targets.col(j).array() * (out_.col(j).array() - log_norm)).sum();
      // d/df of -sum_k T_k log softmax_k = softmax * sum_k T_k - T
      out_grad_.col(j) = (out_.col(j).array() - log_norm).exp().matrix() * targets.col(j).sum() - targets.col(j);
    }
  }
  out_grad_ /= static_cast<double>(batch);
  return total / static_cast<double>(batch);
}

void AbcNetwork::check_batch(const ColRef& x, const ColRef& targets) const {
  if (targets.rows() != output_dim() || targets.cols() != x.cols())
    throw std::invalid_argument("targets have shape (" + std::to_string(targets.cols()) + ", " + std::to_string(targets.rows()) +
                                "), expected (batch, n_out) = (" + std::to_string(x.cols()) + ", " + std::to_string(output_dim()) + ")");
}

void AbcNetwork::backward(const ColRef& x, const std::vector<double>* lrs, const std::vector<double>* bias_lrs,
                          std::vector<RowMatrix>* grad_weights, Vector* grad_bias0, std::vector<Vector>* grad_biases) {
  const Activation kind = activation_;
  for (size_t step = 0; step < weights_.size(); ++step) {
    const size_t l = weights_.size() - 1 - step;
    const ColRef in = l == 0 ? x : ColRef(post_[l - 1]);
    const ColMatrix& error = step == 0 ? out_grad_ : delta_;  // dloss/d(output of matrix l), scale included
    RowMatrix& w = weights_[l];
    const double s = scales_[l];
    if (l > 0) {
      // dloss/dh_l = sigma'(h_l) * s_l W_l^T error, computed before W_l moves
      const ColMatrix& pre = pre_[l - 1];
      for_row_blocks(w.cols(), 2.0 * static_cast<double>(w.size()) * static_cast<double>(error.cols()), [&](Index r, Index n) {
        delta_next_.middleRows(r, n).noalias() = w.middleCols(r, n).transpose() * error;
        delta_next_.middleRows(r, n).array() *= s * pre.middleRows(r, n).unaryExpr([kind](double h) { return derivative(kind, h); }).array();
      });
    } else {
      bias_grad_ = s * error.rowwise().sum();
    }
    // beta_l (l > 0) is added after the scale: its gradient is the error summed over the batch
    // (serial, in a fixed order), taken before the error buffer is reused.
    if (l > 0 && !biases_.empty()) biases_grad_[l - 1].noalias() = error.rowwise().sum();
    if (lrs) {
      const double rate = (*lrs)[l] * s;
      for_row_blocks(w.rows(), 2.0 * static_cast<double>(w.size()) * static_cast<double>(in.cols()), [&](Index r, Index n) {
        w.middleRows(r, n).noalias() -= rate * error.middleRows(r, n) * in.transpose();
      });
      const double bias_rate = bias_lrs->empty() ? (*lrs)[l] : (*bias_lrs)[l];
      if (l == 0) bias0_ -= bias_rate * bias_grad_;
      else if (!biases_.empty()) biases_[l - 1] -= bias_rate * biases_grad_[l - 1];
    } else {
      RowMatrix& grad = (*grad_weights)[l];
      for_row_blocks(w.rows(), 2.0 * static_cast<double>(w.size()) * static_cast<double>(in.cols()), [&](Index r, Index n) {
        grad.middleRows(r, n).noalias() = s * error.middleRows(r, n) * in.transpose();
      });
      if (l == 0) *grad_bias0 = bias_grad_;
      else if (!biases_.empty()) (*grad_biases)[l - 1] = biases_grad_[l - 1];
    }
    if (l > 0) std::swap(delta_, delta_next_);
  }
}

double AbcNetwork::loss_and_gradients(const ColRef& x, const ColRef& targets, std::vector<RowMatrix>& grad_weights,
                                      Vector& grad_bias0, std::vector<Vector>& grad_biases) {
  check_batch(x, targets);
  forward(x);
  const double value = loss_value(targets);
  grad_weights.resize(weights_.size());
  for (size_t l = 0; l < weights_.size(); ++l) grad_weights[l].resize(weights_[l].rows(), weights_[l].cols());
  grad_bias0.resize(bias0_.size());
  grad_biases = biases_;
  backward(x, nullptr, nullptr, &grad_weights, &grad_bias0, &grad_biases);
  return value;
}

double AbcNetwork::sgd_step(const ColRef& x, const ColRef& targets, const std::vector<double>& lrs,
                            const std::vector<double>& bias_lrs) {
  if (lrs.size() != weights_.size())
    throw std::invalid_argument("lrs has " + std::to_string(lrs.size()) + " entries, expected one per weight matrix (" +
                                std::to_string(weights_.size()) + ")");
  if (!bias_lrs.empty() && bias_lrs.size() != weights_.size())
    throw std::invalid_argument("bias_lrs has " + std::to_string(bias_lrs.size()) + " entries, expected none or one per layer (" +
                                std::to_string(weights_.size()) + ")");
  check_batch(x, targets);
  forward(x);
  const double value = loss_value(targets);
  backward(x, &lrs, &bias_lrs, nullptr, nullptr, nullptr);
  return value;
}

}  // namespace intrinsic_flow
