// Gradient flows theta' = -grad l(theta) and gradient descent, with the right side computed here.
//
// A GradientField gives l(theta) and its gradient. Three kinds:
//  - LiftedLoss: l = f o phi with f a function of z (a weighted quadratic, or the mean squared
//    error of a linear model X -> X Z^T), grad l = dphi^T grad f(z)   (docs/theory/lifting.md);
//  - NetworkRegression: mean squared error of a layered ReLU or linear network on data, by
//    backpropagation (sigma'(0) = 0).
// Integrators: one explicit Runge-Kutta stepper driven by a Butcher tableau, with two tableaus:
// classic RK4 (b = 1/6, 1/3, 1/3, 1/6) on a given grid, and the embedded Dormand-Prince 5(4) pair
// with error control. The NumPy mirror is reference/flows.py.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "geometry.hpp"
#include "types.hpp"

namespace intrinsic_flow {

class GradientField {
 public:
  virtual ~GradientField() = default;
  virtual int n_params() const = 0;
  // Writes grad l(theta) (D,) and returns l(theta).
  virtual double value_and_gradient(const double* theta, double* gradient) const = 0;
};

// A loss of the lifted variable z (d,): returns f(z) and writes grad f(z).
class LiftedObjective {
 public:
  virtual ~LiftedObjective() = default;
  virtual double value_and_gradient(const double* lifted, double* gradient) const = 0;
};

// f(z) = 1/2 sum_p w_p^2 (z_p - target_p)^2
class QuadraticObjective : public LiftedObjective {
 public:
  QuadraticObjective(Vector target, Vector weights_squared);
  double value_and_gradient(const double* lifted, double* gradient) const override;

 private:
  Vector target_, weights_squared_;
};

// f(Z) = 1/(2n) ||X Z^T - Y||_F^2 with Z (n_out, n_in) stored row-major in z:
// grad f = (X Z^T - Y)^T X / n.
class MatrixRegressionObjective : public LiftedObjective {
 public:
  MatrixRegressionObjective(RowMatrix inputs, RowMatrix targets);
  double value_and_gradient(const double* lifted, double* gradient) const override;

 private:
  RowMatrix inputs_, targets_;
};

// l = f o phi; grad l = J^T grad f(z).
class LiftedLoss : public GradientField {
 public:
  LiftedLoss(const Lifting& lifting, std::shared_ptr<const LiftedObjective> objective)
      : lifting_(lifting), objective_(std::move(objective)) {}
  int n_params() const override { return lifting_.n_params(); }
  double value_and_gradient(const double* theta, double* gradient) const override;

 private:
  const Lifting& lifting_;
  std::shared_ptr<const LiftedObjective> objective_;
};

// l(theta) = 1/(2n) sum_i ||g_theta(x_i) - y_i||^2 for a layered network, parameters laid out as in
// docs/theory/lifting.md (W_l row-major, then b_l where layer l has biases); ReLU on hidden layers when relu.
class NetworkRegression : public GradientField {
 public:
  NetworkRegression(std::vector<int> widths, std::vector<bool> has_bias, bool relu, RowMatrix inputs,
                    RowMatrix targets);  // throws std::invalid_argument
  int n_params() const override { return n_params_; }
  double value_and_gradient(const double* theta, double* gradient) const override;
  const std::vector<int>& widths() const { return widths_; }
  const RowMatrix& inputs() const { return inputs_; }

  // Forward pass on the inputs, then output_loss(output^T, gradient^T) sets d l / d output (both
  // (d_out, n) maps), then backpropagation writes grad l (D,) (sigma'(0) = 0).
  template <typename OutputLoss>
  void backpropagate(const double* theta, double* gradient, OutputLoss output_loss) const;

 private:
  std::vector<int> widths_;
  std::vector<bool> has_bias_;
  bool relu_;
  RowMatrix inputs_, targets_;
  RowMatrix inputs_t_, targets_t_;  // (d_in, n) and (d_out, n): samples contiguous
  std::vector<int> weight_offsets_, bias_offsets_;
  int n_params_ = 0;
};

// l = f o phi for a deep linear chain, phi = (W_L ... W_1).ravel(), by backpropagation through the
// chain (no Jacobian is formed). With offset_scale = 1/K the parameters are the A_k of a linear
// neural ODE, W_k = I + A_k / K, and grad_A = grad_W / K.
class ChainLiftedLoss : public GradientField {
 public:
  ChainLiftedLoss(std::vector<int> widths, std::shared_ptr<const LiftedObjective> objective, double offset_scale = 0.0);
  int n_params() const override { return chain_.n_params(); }
  double value_and_gradient(const double* theta, double* gradient) const override;

 private:
  NetworkRegression chain_;  // the chain as a network without bias or activation, on X = I
  std::shared_ptr<const LiftedObjective> objective_;
  double scale_;
};

// An explicit Runge-Kutta method of s stages for the autonomous y' = f(y): with k_1 = f(y),
//   k_i = f(y + h sum_{j<i} a_ij k_j),  y_new = y + h sum_i b_i k_i,
// and for an embedded pair the error estimate h sum_i e_i k_i, e = b - b_hat (b_hat the weights of
// the lower-order method). c_i = sum_j a_ij (the stage times; unused by an autonomous field).
struct ButcherTableau {
  int stages;
  const double* c;  // (s,)
  const double* a;  // (s, s), row-major, strictly lower triangular
  const double* b;  // (s,)
  const double* e;  // (s,), or nullptr for a method without error estimate
};
extern const ButcherTableau kClassicRK4;      // order 4, 4 stages
extern const ButcherTableau kDormandPrince54;  // orders 5(4), 7 stages, first same as last

// One step of a tableau; the stage vectors are allocated once, at construction.
class RungeKuttaStepper {
 public:
  RungeKuttaStepper(const ButcherTableau& tableau, Eigen::Index size);
  const ButcherTableau& tableau() const { return tableau_; }
  // k(0) = f(y) must be set before step(); k(i) is stage i afterwards.
  Vector& k(int i) { return k_[i]; }
  // Evaluates stages 2..s at y with step h (counting evaluations), then writes y_new and, when the
  // tableau has one, the error estimate. Returns l at the last stage, or NaN as soon as a stage
  // is not finite (the later stages are then not evaluated and y_new is not written).
  double step(const GradientField& field, const Vector& y, double h, Vector& y_new, Vector* error,
              long& n_evaluations);

 private:
  const ButcherTableau& tableau_;
  std::vector<Vector> k_;
  Vector stage_;
};

// What an integration returns: the saved states, and where and why it stopped if it failed.
struct FlowResult {
  std::vector<double> times;
  std::vector<Vector> states;
  std::vector<double> values;  // l at the saved states
  bool completed = true;
  double time_reached = 0.0;   // last time with a finite state
  std::string reason;          // why it stopped early ("" when completed)
  long n_evaluations = 0;
  long n_rejected = 0;
};

// Classic RK4 on the grid times[0] = 0 < ... < times[N] (one step per interval); saves the
// states where save[k].
FlowResult integrate_rk4(const GradientField& field, const Vector& theta0, const std::vector<double>& times,
                         const std::vector<bool>& save);

// Dormand-Prince 5(4) from 0 to stops.back(), landing exactly on every stop; saves the stops where
// save[k], and every accepted step when save_all_steps. Error per component scaled by
// rtol * (1 + max(|y|, |y_new|)), RMS norm, step factor 0.9 err^(-1/5) clipped to [0.2, 5] and
// rounded down to a power 2^(k/8) (the error estimate cancels digits; a discrete set of factors
// keeps the step sequence identical in both backends).
FlowResult integrate_rk45(const GradientField& field, const Vector& theta0, const std::vector<double>& stops,
                          const std::vector<bool>& save, bool save_all_steps, double rtol, long max_steps);

// theta_{k+1} = theta_k - lr grad l(theta_k), k = 0..n_steps-1; saves every iterate (t = k).
FlowResult gradient_descent(const GradientField& field, const Vector& theta0, double lr, int n_steps);

}  // namespace intrinsic_flow
