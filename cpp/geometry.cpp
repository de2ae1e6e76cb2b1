#include "geometry.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "parallel.hpp"
#include "rank.hpp"

namespace intrinsic_flow {

void Lifting::gram(const double* theta, double* gram_out) const {
  const RowMatrix jac = lift_jacobian(*this, theta);
  MatrixMap(gram_out, n_params(), n_params()).noalias() = jac.transpose() * jac;
}

void Lifting::vjp(const double* theta, const double* w, double* out) const {
  const RowMatrix jac = lift_jacobian(*this, theta);
  const Eigen::Map<const Vector> weights(w, jac.rows());
  for (Eigen::Index e = 0; e < jac.cols(); ++e) out[e] = 0.0;
  for (Eigen::Index q = 0; q < jac.rows(); ++q)  // fixed summation order: bit-identical results
    for (Eigen::Index e = 0; e < jac.cols(); ++e) out[e] += weights[q] * jac(q, e);
}

void Lifting::jvp(const double* theta, const double* v, double* out) const {
  const RowMatrix jac = lift_jacobian(*this, theta);
  for (Eigen::Index q = 0; q < jac.rows(); ++q) {
    double total = 0.0;
    for (Eigen::Index e = 0; e < jac.cols(); ++e) total += jac(q, e) * v[e];
    out[q] = total;
  }
}

void Lifting::rank_point(const double* theta, double* point) const { std::copy(theta, theta + n_params(), point); }

RowMatrix lift_jacobian(const Lifting& model, const double* theta) {
  RowMatrix jac(model.n_lifted(), model.n_params());
  model.jacobian(theta, jac.data());
  return jac;
}

RowMatrix metric(const Lifting& model, const double* theta) {
  const RowMatrix jac = lift_jacobian(model, theta);
  RowMatrix result = RowMatrix::Zero(jac.rows(), jac.rows());
  result.selfadjointView<Eigen::Lower>().rankUpdate(jac);
  result.triangularView<Eigen::StrictlyUpper>() = result.transpose();
  return result;
}

RowMatrix metric_derivative(const Lifting& model, const double* theta, const double* direction) {
  const RowMatrix jac = lift_jacobian(model, theta);
  RowMatrix djac(jac.rows(), jac.cols());
  model.jacobian_derivative(theta, direction, djac.data());
  // dM[v] = dJ[v] J^T + J dJ[v]^T
  RowMatrix half = djac * jac.transpose();
  return half + half.transpose();
}

RowMatrix lift_gram(const Lifting& model, const double* theta) {
  RowMatrix result(model.n_params(), model.n_params());
  model.gram(theta, result.data());
  return result;
}

RowMatrix joint_gram(const Lifting& model, const double* theta) {
  RowMatrix result = lift_gram(model, theta);
  RowMatrix laws_jac(model.n_laws(), model.n_params());
  model.conserved_jacobian(theta, laws_jac.data());
  result.noalias() += laws_jac.transpose() * laws_jac;
  return result;
}

RowMatrix scaled_joint_gram(const RowMatrix& gram, const RowMatrix& laws_jac) {
  const RowMatrix laws_gram = laws_jac.transpose() * laws_jac;
  const double lift_trace = gram.trace(), laws_trace = laws_gram.trace();
  return (lift_trace > 0.0 ? 1.0 / lift_trace : 1.0) * gram + (laws_trace > 0.0 ? 1.0 / laws_trace : 1.0) * laws_gram;
}

RowMatrix scaled_joint_gram(const Lifting& model, const double* theta) {
  RowMatrix laws_jac(model.n_laws(), model.n_params());
  model.conserved_jacobian(theta, laws_jac.data());
  return scaled_joint_gram(lift_gram(model, theta), laws_jac);
}

double times_exp(double x, double a) {
  if (x == 0.0 || !std::isfinite(x) || !std::isfinite(a)) return x * std::exp(a);
  // Cody-Waite split of log 2: q * kLog2High is exact for |q| < 2^20.
  constexpr double kLog2High = 6.93147180369123816490e-01, kLog2Low = 1.90821492927058770002e-10;
  const double q = std::max(-4000.0, std::min(4000.0, std::nearbyint(a / 0.69314718055994530942)));
  const double r = (a - q * kLog2High) - q * kLog2Low;
  int exponent = 0;
  const double mantissa = std::frexp(x, &exponent);
  return std::ldexp(mantissa * std::exp(r), exponent + static_cast<int>(q));
}

void unit_geometric_scale(const double* theta, double* point, int n) {
  double log_mean = 0.0;
  int nonzero = 0;
  for (int e = 0; e < n; ++e)
    if (theta[e] != 0.0) log_mean += std::log(std::abs(theta[e])), ++nonzero;
  log_mean = nonzero > 0 ? log_mean / nonzero : 0.0;
  for (int e = 0; e < n; ++e) point[e] = times_exp(theta[e], -log_mean);
}

namespace {

template <typename GramOf>
RankResult rank_at_representative(const Lifting& model, const double* theta, double rtol, GramOf gram_of) {
  Vector point(model.n_params());
  model.rank_point(theta, point.data());
  const RowMatrix gram = gram_of(model, point.data());
  RankResult result;
  if (!gram.allFinite()) {  // no float64 rank: -1, raised as ValueError by the Python layer
    result.rank = -1;
    result.eigenvalues = Vector(0);
    return result;
  }
  result.eigenvalues = symmetric_eigenvalues_desc(gram);
  result.rank = gram_rank(result.eigenvalues, rtol);
  return result;
}

void check_columns(const RowMatrixRef& matrix, std::int64_t expected, const char* name, const char* what) {
  if (matrix.cols() != expected)
    throw std::invalid_argument(std::string(name) + " has " + std::to_string(matrix.cols()) + " columns, expected " +
                                what + " = " + std::to_string(expected));
}

// Runs fill(b, row) for every sample b, in parallel, into out (batch rows of width values); each
// row is written by one thread only.
template <typename Fill>
void per_sample_into(const Lifting& model, const RowMatrixRef& thetas, std::int64_t width, bool needs_paths,
                     double* out, Fill fill) {
  check_columns(thetas, model.n_params(), "thetas", "n_params");
  if (needs_paths) model.check_ready();
  const Eigen::Index batch = thetas.rows();
  parallel_for_dynamic<Eigen::Index>(batch, batch > 1, 1, [&](Eigen::Index b) {
    fill(b, thetas.row(b).data(), out + static_cast<std::int64_t>(b) * width);
  });
}

template <typename Fill>
RowMatrix per_sample(const Lifting& model, const RowMatrixRef& thetas, std::int64_t width, bool needs_paths, Fill fill) {
  check_columns(thetas, model.n_params(), "thetas", "n_params");
  if (needs_paths) model.check_ready();  // before allocating
  RowMatrix out(thetas.rows(), width);
  per_sample_into(model, thetas, width, needs_paths, out.data(),
                  [&](Eigen::Index, const double* t, double* row) { fill(t, row); });
  return out;
}

}  // namespace

RankResult rank_lift(const Lifting& model, const double* theta, double rtol) {
  return rank_at_representative(model, theta, rtol, lift_gram);
}

RankResult rank_joint(const Lifting& model, const double* theta, double rtol) {
  return rank_at_representative(model, theta, rtol, [](const Lifting& m, const double* t) { return scaled_joint_gram(m, t); });
}

RowMatrix lift_batch(const Lifting& model, const RowMatrixRef& thetas) {
  return per_sample(model, thetas, model.n_lifted(), true, [&](const double* t, double* out) { model.lift(t, out); });
}

RowMatrix jacobian_batch(const Lifting& model, const RowMatrixRef& thetas) {
  return per_sample(model, thetas, model.n_lifted() * model.n_params(), true,
                    [&](const double* t, double* out) { model.jacobian(t, out); });
}

void jacobian_batch_into(const Lifting& model, const RowMatrixRef& thetas, double* out) {
  per_sample_into(model, thetas, model.n_lifted() * model.n_params(), true, out,
                  [&](Eigen::Index, const double* t, double* row) { model.jacobian(t, row); });
}

RowMatrix vjp_batch(const Lifting& model, const RowMatrixRef& thetas, const RowMatrixRef& ws) {
  check_columns(ws, model.n_lifted(), "ws", "n_lifted");
  if (ws.rows() != thetas.rows()) throw std::invalid_argument("ws and thetas have different numbers of rows");
  check_columns(thetas, model.n_params(), "thetas", "n_params");
  model.check_ready();
  RowMatrix out(thetas.rows(), model.n_params());
  per_sample_into(model, thetas, model.n_params(), true, out.data(),
                  [&](Eigen::Index b, const double* t, double* row) { model.vjp(t, ws.row(b).data(), row); });
  return out;
}

RowMatrix jvp_batch(const Lifting& model, const RowMatrixRef& thetas, const RowMatrixRef& vs) {
  check_columns(vs, model.n_params(), "vs", "n_params");
  if (vs.rows() != thetas.rows()) throw std::invalid_argument("vs and thetas have different numbers of rows");
  check_columns(thetas, model.n_params(), "thetas", "n_params");
  model.check_ready();
  RowMatrix out(thetas.rows(), model.n_lifted());
  per_sample_into(model, thetas, model.n_lifted(), true, out.data(),
                  [&](Eigen::Index b, const double* t, double* row) { model.jvp(t, vs.row(b).data(), row); });
  return out;
}

RowMatrix metric_batch(const Lifting& model, const RowMatrixRef& thetas) {
  const std::int64_t d = model.n_lifted();
  return per_sample(model, thetas, d * d, true, [&](const double* t, double* out) { MatrixMap(out, d, d) = metric(model, t); });
}

RowMatrix conserved_batch(const Lifting& model, const RowMatrixRef& thetas) {
  return per_sample(model, thetas, model.n_laws(), false, [&](const double* t, double* out) { model.conserved(t, out); });
}

RowMatrix conserved_jacobian_batch(const Lifting& model, const RowMatrixRef& thetas) {
  return per_sample(model, thetas, static_cast<std::int64_t>(model.n_laws()) * model.n_params(), false,
                    [&](const double* t, double* out) { model.conserved_jacobian(t, out); });
}

RowMatrix gram_batch(const Lifting& model, const RowMatrixRef& thetas) {
  const std::int64_t D = model.n_params();
  return per_sample(model, thetas, D * D, false, [&](const double* t, double* out) { model.gram(t, out); });
}

Eigen::VectorXi rank_lift_batch(const Lifting& model, const RowMatrixRef& thetas, double rtol) {
  const RowMatrix ranks = per_sample(model, thetas, 1, false, [&](const double* t, double* out) {
    out[0] = rank_lift(model, t, rtol).rank;
  });
  return ranks.col(0).cast<int>();
}

Eigen::VectorXi rank_joint_batch(const Lifting& model, const RowMatrixRef& thetas, double rtol) {
  const RowMatrix ranks = per_sample(model, thetas, 1, false, [&](const double* t, double* out) {
    out[0] = rank_joint(model, t, rtol).rank;
  });
  return ranks.col(0).cast<int>();
}

}  // namespace intrinsic_flow
