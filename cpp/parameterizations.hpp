// abc-parameterised fully connected networks (Yang & Hu; Hajjar, Chizat, Giraud, arXiv 2110.15596),
// with the layer conventions of the latter's code. With L hidden layers there are L + 1 weight
// matrices W_0 .. W_L and one scale s_l = m^{-a_l} per matrix:
//   h_1 = s_0 (W_0 x + beta_0),  x_l = sigma(h_l),  h_{l+1} = s_l W_l x_l (+ beta_l),  f = s_L W_L x_L (+ beta_L).
// The biases beta_1 .. beta_L of the later layers are optional (all or none) and are not scaled by
// s_l (IP-LLR with biases that do not scale with m).
// The weights W_l are the trained parameters (the m^{-b_l} of the initialisation is already in
// them); SGD updates W_l <- W_l - lr_l dloss/dW_l with one learning rate per matrix (the caller puts
// eta m^{-c_l} there). The loss is averaged over the batch: cross-entropy against target rows T
// (one-hot or probabilities), or 0.5 |f - T|^2.
//
// Storage: activations are column-major (features x batch) matrices, i.e. C-order (batch x
// features) NumPy arrays without a transposition; weights are row-major (out x in). Every product
// is cut into fixed blocks of kBlockRows output rows, each a serial Eigen product, run in parallel
// over blocks: the blocks do not depend on the thread count, so neither do the results.
#pragma once

#include <string>
#include <vector>

#include "types.hpp"

namespace intrinsic_flow {

enum class Activation { relu, gelu, elu, tanh, sigmoid };
enum class AbcLoss { cross_entropy, mse };

Activation parse_activation(const std::string& name);
AbcLoss parse_abc_loss(const std::string& name);

class AbcNetwork {
 public:
  using ColMatrix = Eigen::MatrixXd;
  using ColRef = Eigen::Ref<const Eigen::MatrixXd>;
  static constexpr Eigen::Index kBlockRows = 64;

  // weights[l] is (out_l x in_l) with in_0 = d, out_l = in_{l+1}; bias0 has out_0 entries;
  // scales[l] = m^{-a_l}. Throws std::invalid_argument on inconsistent shapes or names.
  // biases is empty or holds beta_1 .. beta_L (out_1 .. out_L entries), added unscaled.
  AbcNetwork(std::vector<RowMatrix> weights, Vector bias0, std::vector<double> scales,
             const std::string& activation, const std::string& loss, std::vector<Vector> biases = {});

  int n_matrices() const { return static_cast<int>(weights_.size()); }
  int input_dim() const { return static_cast<int>(weights_.front().cols()); }
  int output_dim() const { return static_cast<int>(weights_.back().rows()); }
  const std::vector<RowMatrix>& weights() const { return weights_; }
  const Vector& bias0() const { return bias0_; }
  const std::vector<Vector>& biases() const { return biases_; }

  // Forward pass on the columns of x (d x B). Fills the pre-activations h_1..h_L and f, readable
  // with hidden(l) (l = 1..L) and output().
  void forward(const ColRef& x);
  const ColMatrix& hidden(int l) const { return pre_[static_cast<size_t>(l - 1)]; }
  const ColMatrix& output() const { return out_; }

  // Loss of the last forward pass against targets (n_out x B), and its gradient in out_grad_.
  double loss_value(const ColRef& targets);

  // Gradients with respect to every W_l, beta_0 and (if any) beta_1 .. beta_L at the current weights.
  double loss_and_gradients(const ColRef& x, const ColRef& targets, std::vector<RowMatrix>& grad_weights,
                            Vector& grad_bias0, std::vector<Vector>& grad_biases);
  double loss_and_gradients(const ColRef& x, const ColRef& targets, std::vector<RowMatrix>& grad_weights,
                            Vector& grad_bias0) {
    std::vector<Vector> unused;
    return loss_and_gradients(x, targets, grad_weights, grad_bias0, unused);
  }

  // One SGD step with learning rates lrs[l] (L + 1 entries) for the weights and bias_lrs[l] for
  // beta_l (L + 1 entries, or empty: beta_l then uses lrs[l]). Returns the loss before the step. The
  // network's buffers are allocated once per batch size (Eigen's products allocate their packing
  // buffers per call).
  double sgd_step(const ColRef& x, const ColRef& targets, const std::vector<double>& lrs,
                  const std::vector<double>& bias_lrs = {});

 private:
  void ensure_batch(Eigen::Index batch);
  void check_batch(const ColRef& x, const ColRef& targets) const;
  // Backward pass from out_grad_; if lrs is null, the gradients go to grad_*, else each weight is
  // updated in place after its error has been propagated.
  void backward(const ColRef& x, const std::vector<double>* lrs, const std::vector<double>* bias_lrs,
                std::vector<RowMatrix>* grad_weights, Vector* grad_bias0, std::vector<Vector>* grad_biases);

  std::vector<RowMatrix> weights_;
  Vector bias0_;
  std::vector<Vector> biases_;  // beta_1 .. beta_L, or empty
  std::vector<double> scales_;
  Activation activation_;
  AbcLoss loss_;
  Eigen::Index batch_ = -1;
  std::vector<ColMatrix> pre_;   // h_l, width x B
  std::vector<ColMatrix> post_;  // x_l = sigma(h_l)
  ColMatrix out_, out_grad_;     // f and dloss/df
  ColMatrix delta_, delta_next_; // dloss/dh of the layer being processed
  Vector bias_grad_;
  std::vector<Vector> biases_grad_;  // sized with the biases: no allocation per step
};

}  // namespace intrinsic_flow
