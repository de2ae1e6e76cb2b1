// Deep linear networks x -> W_L ... W_1 x (optionally with ReLU on the hidden layers) trained by
// gradient descent, with optional heavy-ball momentum, or by the RK4 gradient flow of flow.hpp.
//
// The loss is l(W) = (scale / 2) || M ⊙ (H_L - Y) ||_F^2 with H_0 = X (or X = I, the deep matrix
// factorisation), H_l = W_l H_{l-1} (ReLU'd for 0 < l < L), M a 0/1 mask of observed entries (deep
// matrix completion) or all ones. scale = 1 is the sum loss, scale = 1 / (number of entries) the
// mean loss. The factors are laid out in one vector theta: W_1 row-major, then W_2, ..., W_L
// (W_l of shape d_l x d_{l-1}). docs/theory/parsimony.md has the mathematics; the NumPy mirror is
// reference/parsimony.py.
#pragma once

#include <string>
#include <vector>

#include "flow.hpp"
#include "types.hpp"

namespace intrinsic_flow {

class DeepLinearLoss : public GradientField {
 public:
  // dims = (d_0, ..., d_L), L >= 1; inputs (d_0, n) or empty for X = I (then n = d_0); targets
  // (d_L, n); mask of the shape of targets, or empty for all observed. Throws std::invalid_argument.
  DeepLinearLoss(std::vector<int> dims, RowMatrix inputs, RowMatrix targets, RowMatrix mask, double scale,
                 bool relu);
  int n_params() const override { return static_cast<int>(offsets_.back()); }
  int depth() const { return static_cast<int>(dims_.size()) - 1; }
  // W_l occupies theta[offsets()[l - 1], offsets()[l]).
  const std::vector<Eigen::Index>& offsets() const { return offsets_; }
  double value_and_gradient(const double* theta, double* gradient) const override;
  // The same, skipping the gradients of the layers l with needed[l] == false (their entries of
  // gradient are left as they are): frozen factors cost no product.
  double value_and_gradient(const double* theta, double* gradient, const std::vector<bool>& needed) const;

 private:
  std::vector<int> dims_;
  RowMatrix inputs_, targets_, mask_;
  double scale_;
  bool relu_, identity_input_;
  std::vector<Eigen::Index> offsets_;  // W_l starts at offsets_[l - 1]
  std::vector<bool> all_needed_;
  // Work space sized once: hidden_[l] = H_l (d_l, n), back_[l] = dl/dH_l (d_l, n).
  mutable std::vector<RowMatrix> hidden_, back_;
};

struct TrainResult {
  RowMatrix states;               // (n_saved, D)
  std::vector<long> saved_steps;  // the step of each saved state
  std::vector<double> losses;     // l at steps 0, 1, ..., steps_done
  long steps_done = 0;
  bool converged = false;  // stopped because l <= tol
  bool finite = true;      // false when l or a gradient stopped being finite (the run stops there)
};

// theta_{t+1} = theta_t - lr_l v_t on each layer l, v_t = grad l(theta_t) + momentum v_{t-1}
// (v_{-1} = 0; momentum = 0 is plain gradient descent). Saves theta at steps 0, k, 2k, ... and at
// the last step (save_every = k; 0 saves the first and last only). Stops after n_steps steps, or
// at the first step t with l(theta_t) <= tol (tol <= 0: never), or at a non-finite value.
// A layer with lr_l = 0 is frozen and its gradient is not computed. No allocation per step.
TrainResult train_gradient_descent(const DeepLinearLoss& loss, const Vector& theta0,
                                   const std::vector<double>& learning_rates, double momentum, long n_steps,
                                   long save_every, double tol);

// Classic RK4 on theta' = -grad l(theta) with step dt, n_steps steps (integrate_rk4 of flow.hpp),
// saving as train_gradient_descent does; losses holds l at the saved states only.
TrainResult train_rk4(const DeepLinearLoss& loss, const Vector& theta0, double dt, long n_steps, long save_every);

}  // namespace intrinsic_flow
