// Mean-field particle training: pair symmetry is kept exactly on symmetrised data, the balances
// a_j^2 - |b_j|^2 are nearly constant under RK4, and results do not depend on the thread count.
#include <cmath>
#include <stdexcept>
#include <vector>

#include "check.hpp"
#include "parallel.hpp"
#include "symmetries.hpp"

using namespace intrinsic_flow;

namespace {

struct Problem {
  Vector a;
  RowMatrix B, X;
  Vector y;
};

// Paired particles (a, b), (-a, -b) and the symmetrised sample of a cubic target.
Problem paired_problem(long pairs, int d, long half) {
  Problem p;
  p.a.resize(2 * pairs);
  p.B.resize(2 * pairs, d);
  RowMatrix G = sym_draw_inputs(1, 1.0, d, 7, 0, pairs);
  for (long j = 0; j < pairs; ++j) {
    const double s = (j % 2 == 0) ? 1.0 : -1.0;
    p.a[2 * j] = s;
    p.a[2 * j + 1] = -s;
    p.B.row(2 * j) = G.row(j);
    p.B.row(2 * j + 1) = -G.row(j);
  }
  RowMatrix H = sym_draw_inputs(0, 1.0 / std::sqrt(d), d, 11, 0, half);
  p.X.resize(2 * half, d);
  p.X.topRows(half) = H;
  p.X.bottomRows(half) = -H;
  Vector coef = Vector::LinSpaced(d, 1.0, 2.0);
  p.y = sym_target(0, coef, 1, p.X);
  return p;
}

void test_pair_symmetry_kept() {
  Problem p = paired_problem(20, 5, 100);
  ParticleOptions o;
  o.method = 0;
  o.lr = 0.05;
  o.n_steps = 200;
  o.save_steps = {0, 200};
  ParticleResult r = particle_train(p.a, p.B, p.X, p.y, o);
  double err = 0.0;
  for (long j = 0; j < 20; ++j) {
    err = std::max(err, std::abs(r.a(1, 2 * j) + r.a(1, 2 * j + 1)));
    for (int k = 0; k < 5; ++k) err = std::max(err, std::abs(r.B(1, (2 * j) * 5 + k) + r.B(1, (2 * j + 1) * 5 + k)));
  }
  CHECK(err <= 1e-13);
  CHECK(r.loss[1] < r.loss[0]);
}

void test_rk4_balances() {
  Problem p = paired_problem(10, 4, 64);
  ParticleOptions o;
  o.method = 1;
  o.lr = 0.01;
  o.n_steps = 100;
  o.save_steps = {0, 100};
  ParticleResult r = particle_train(p.a, p.B, p.X, p.y, o);
  double drift = 0.0;
  for (long j = 0; j < 20; ++j) {
    auto balance = [&](int s) {
      double nb = 0.0;
      for (int k = 0; k < 4; ++k) nb += r.B(s, j * 4 + k) * r.B(s, j * 4 + k);
      return r.a(s, j) * r.a(s, j) - nb;
    };
    drift = std::max(drift, std::abs(balance(1) - balance(0)));
  }
  CHECK(drift < 1e-8);
}

void test_threads_bit_identical() {
  ParticleOptions o;
  o.method = 2;
  o.lr = 0.02;
  o.n_steps = 5;
  o.save_steps = {5};
  o.input_kind = 1;
  o.target_kind = 1;
  o.d_H = 2;
  o.batch = 700;
  o.seed = 3;
  Problem p = paired_problem(300, 6, 1);
  set_max_threads(1);
  ParticleResult one = particle_train(p.a, p.B, RowMatrix(0, 6), Vector(0), o);
  set_max_threads(2);
  ParticleResult two = particle_train(p.a, p.B, RowMatrix(0, 6), Vector(0), o);
  CHECK(one.B == two.B);
  CHECK(one.a == two.a);
  CHECK(one.loss == two.loss);
  ReducedOptions ro;
  ro.d = 12;
  ro.d_H = 3;
  ro.n_steps = 4;
  ro.n_samples = 600;
  ro.save_steps = {4};
  Vector c = Vector::Ones(50), theta = Vector::LinSpaced(50, 0.1, 1.4);
  set_max_threads(1);
  ReducedResult r1 = reduced_train(c, theta, ro);
  set_max_threads(2);
  ReducedResult r2 = reduced_train(c, theta, ro);
  CHECK(r1.c == r2.c);
  CHECK(r1.theta == r2.theta);
}

void test_generator() {
  // per-index draws: the same sample whatever the block it is drawn in
  RowMatrix all = sym_draw_inputs(0, 1.0, 3, 5, 0, 10);
  RowMatrix tail = sym_draw_inputs(0, 1.0, 3, 5, 4, 6);
  CHECK(all.bottomRows(6) == tail);
  RowMatrix sphere = sym_draw_inputs(1, 2.0, 4, 5, 0, 10);
  for (long i = 0; i < 10; ++i) CHECK_NEAR(sphere.row(i).norm(), 2.0, 1e-14);
}

}  // namespace

int main() {
  test_pair_symmetry_kept();
  test_rk4_balances();
  test_threads_bit_identical();
  test_generator();
  CHECK_THROWS(reduced_samples(3, 0, 1, 0, 1); reduced_train(Vector::Ones(2), Vector::Ones(3), ReducedOptions()), std::invalid_argument,
               "same length");
  return check::finish("test_symmetries");
}
