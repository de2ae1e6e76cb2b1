// The Runge-Kutta stepper and its two tableaus on y' = -A y (the gradient flow of
// l = 1/2 y^T A y, A diagonal), whose exact solution is y_i(t) = exp(-a_i t) y_i(0).
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "check.hpp"
#include "flow.hpp"
#include "interrupt.hpp"

using namespace intrinsic_flow;

namespace {

class DiagonalQuadratic : public GradientField {
 public:
  explicit DiagonalQuadratic(std::vector<double> a) : a_(std::move(a)) {}
  int n_params() const override { return static_cast<int>(a_.size()); }
  double value_and_gradient(const double* theta, double* gradient) const override {
    double value = 0.0;
    for (std::size_t i = 0; i < a_.size(); ++i) {
      gradient[i] = a_[i] * theta[i];
      value += 0.5 * a_[i] * theta[i] * theta[i];
    }
    return value;
  }

 private:
  std::vector<double> a_;
};

// The gradient of l is not finite once |theta_0| > 2 (a field that leaves its domain).
class Blowup : public GradientField {
 public:
  int n_params() const override { return 1; }
  double value_and_gradient(const double* theta, double* gradient) const override {
    gradient[0] = -theta[0] * theta[0];  // y' = y^2: y(t) = 1 / (1 - t) from y(0) = 1
    return std::abs(theta[0]) > 2.0 ? std::numeric_limits<double>::infinity() : 0.0;
  }
};

const std::vector<double> kRates = {1.0, 2.0, 3.5};
const double kStart[3] = {1.0, -0.5, 2.0};

Vector start() { return Eigen::Map<const Vector>(kStart, 3); }

double exact(int i, double t) { return std::exp(-kRates[i] * t) * kStart[i]; }

std::vector<double> grid(int n, double t_end) {
  std::vector<double> times(n + 1);
  for (int k = 0; k <= n; ++k) times[k] = t_end * k / n;
  return times;
}

void test_tableaus_are_consistent() {
  // c_i = sum_j a_ij, sum b = 1, sum e = 0 (b and b_hat both sum to 1), a strictly lower triangular.
  for (const ButcherTableau* tableau : {&kClassicRK4, &kDormandPrince54}) {
    const int s = tableau->stages;
    double sum_b = 0.0;
    for (int i = 0; i < s; ++i) {
      double row = 0.0;
      for (int j = 0; j < s; ++j) {
        row += tableau->a[i * s + j];
        if (j >= i) CHECK(tableau->a[i * s + j] == 0.0);
      }
      CHECK_NEAR(row, tableau->c[i], 1e-15);
      sum_b += tableau->b[i];
    }
    CHECK_NEAR(sum_b, 1.0, 1e-15);
  }
  double sum_e = 0.0;
  for (int i = 0; i < 7; ++i) sum_e += kDormandPrince54.e[i];
  CHECK(std::abs(sum_e) <= 1e-16);
  CHECK(kClassicRK4.e == nullptr);
}

void test_rk4_one_step_is_the_stability_polynomial() {
  // On y' = -a y one RK4 step multiplies y by R(z) = 1 + z + z^2/2 + z^3/6 + z^4/24, z = -a h.
  DiagonalQuadratic field(kRates);
  const double h = 0.1;
  FlowResult result = integrate_rk4(field, start(), {0.0, h}, {false, true});
  CHECK(result.completed);
  CHECK_EQ(result.n_evaluations, 5L);
  for (int i = 0; i < 3; ++i) {
    const double z = -kRates[i] * h;
    CHECK_NEAR(result.states[0][i], (1 + z + z * z / 2 + z * z * z / 6 + z * z * z * z / 24) * kStart[i], 1e-15);
  }
}

void test_rk4_converges_with_order_four() {
  DiagonalQuadratic field(kRates);
  double previous = 0.0;
  // the exact order-4 regime: from h = 1/20 on (at h = 1/10 the ratio is still 2^4.2)
  for (int n : {20, 40, 80, 160}) {
    const std::vector<double> times = grid(n, 1.0);
    std::vector<bool> save(times.size(), false);
    save.back() = true;
    FlowResult result = integrate_rk4(field, start(), times, save);
    CHECK(result.completed && result.states.size() == 1 && result.times[0] == 1.0);
    double error = 0.0;
    for (int i = 0; i < 3; ++i) {
      error = std::max(error, std::abs(result.states[0][i] - exact(i, 1.0)));
      const double z = -kRates[i] / n;  // n steps: R(z)^n y(0)
      CHECK_NEAR(result.states[0][i], std::pow(1 + z + z * z / 2 + z * z * z / 6 + z * z * z * z / 24, n) * kStart[i], 1e-13);
    }
    if (previous > 0.0) {
      const double order = std::log2(previous / error);  // halving h divides the error by 2^4
      CHECK(order > 3.9 && order < 4.15);
    }
    previous = error;
  }
}

void test_rk45_error_control() {
  // The global error follows the tolerance; every stop is reached exactly and saved.
  DiagonalQuadratic field(kRates);
  const std::vector<double> stops = {0.0, 0.25, 1.0, 2.0};
  double previous_error = 1.0;
  long previous_evaluations = 0;
  for (double rtol : {1e-4, 1e-7, 1e-10}) {
    FlowResult result = integrate_rk45(field, start(), stops, {true, true, true, true}, false, rtol, 100000);
    CHECK(result.completed && result.reason.empty());
    CHECK(result.times == stops);
    double error = 0.0;
    for (std::size_t k = 0; k < stops.size(); ++k)
      for (int i = 0; i < 3; ++i) error = std::max(error, std::abs(result.states[k][i] - exact(i, stops[k])));
    CHECK(error <= 10.0 * rtol);
    CHECK(error < previous_error);
    CHECK(result.n_evaluations > previous_evaluations);
    previous_error = error, previous_evaluations = result.n_evaluations;
    // the saved values are l at the saved states
    for (std::size_t k = 0; k < stops.size(); ++k) {
      double value = 0.0;
      for (int i = 0; i < 3; ++i) value += 0.5 * kRates[i] * result.states[k][i] * result.states[k][i];
      CHECK_NEAR(result.values[k], value, 1e-14);
    }
  }
}

void test_rk45_stops() {
  DiagonalQuadratic field(kRates);
  FlowResult limited = integrate_rk45(field, start(), {0.0, 10.0}, {true, true}, false, 1e-12, 3);
  CHECK(!limited.completed && limited.reason == "more than max_steps = 3 steps");
  // y' = y^2 blows up at t = 1: steps are rejected until they cannot shrink any more.
  Blowup blowup;
  FlowResult failed = integrate_rk45(blowup, Vector::Ones(1), {0.0, 2.0}, {true, true}, true, 1e-8, 100000);
  CHECK(!failed.completed && failed.n_rejected > 0);
  CHECK(failed.time_reached < 1.0 && failed.time_reached > 0.4);
  FlowResult failed_rk4 = integrate_rk4(blowup, Vector::Ones(1), grid(4, 2.0), std::vector<bool>(5, true));
  CHECK(!failed_rk4.completed && failed_rk4.reason == "the loss or its gradient is not finite");
}

}  // namespace

// An interruption check that says stop: a long integration ends with Interrupted at its next poll
// (within 50 ms of the check being due), and no check (the default) never interrupts.
bool always_stop() { return true; }

void test_interrupt_stops_the_loops() {
  DiagonalQuadratic field(kRates);
  // 5e6 steps: seconds of work, so the first poll (50 ms after the loop starts) comes long before the end
  const std::vector<double> times = grid(5000000, 1.0);
  const std::vector<bool> save(times.size(), false);
  set_interrupt_check(&always_stop);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));  // the first poll is due
  const auto begin = std::chrono::steady_clock::now();
  auto integrate = [&] { integrate_rk4(field, start(), times, save); };
  CHECK_THROWS(integrate(), Interrupted, "interrupted");
  CHECK(std::chrono::steady_clock::now() - begin < std::chrono::seconds(1));
  set_interrupt_check(nullptr);
  CHECK(integrate_rk4(field, start(), grid(10, 1.0), std::vector<bool>(11, true)).states.size() == 11);
}

int main() {
  test_interrupt_stops_the_loops();
  test_tableaus_are_consistent();
  test_rk4_one_step_is_the_stability_polynomial();
  test_rk4_converges_with_order_four();
  test_rk45_error_control();
  test_rk45_stops();
  return check::finish("test_flow");
}
