#include "linear.hpp"

#include <stdexcept>

namespace intrinsic_flow {

LinearChain::LinearChain(std::vector<int> widths) : widths_(std::move(widths)) {
  if (widths_.size() < 2) throw std::invalid_argument("LinearChain: need at least two widths");
  for (int w : widths_)
    if (w < 1) throw std::invalid_argument("LinearChain: widths must be positive");
  offsets_.push_back(0);
  for (size_t l = 1; l < widths_.size(); ++l) {
    n_params_ += widths_[l] * widths_[l - 1];
    offsets_.push_back(n_params_);
  }
  for (size_t l = 1; l + 1 < widths_.size(); ++l) n_laws_ += widths_[l] * (widths_[l] + 1) / 2;
}

ConstMatrixMap LinearChain::layer(const double* theta, int l) const {
  return ConstMatrixMap(theta + offsets_[l], widths_[l + 1], widths_[l]);
}

void LinearChain::products(const double* theta, std::vector<RowMatrix>& prefix, std::vector<RowMatrix>& suffix) const {
  const int L = static_cast<int>(widths_.size()) - 1;
  prefix.assign(L + 1, RowMatrix());
  suffix.assign(L + 1, RowMatrix());
  prefix[0] = RowMatrix::Identity(widths_[0], widths_[0]);
  for (int k = 1; k <= L; ++k) prefix[k] = layer(theta, k - 1) * prefix[k - 1];
  suffix[L] = RowMatrix::Identity(widths_[L], widths_[L]);
  for (int k = L - 1; k >= 0; --k) suffix[k] = suffix[k + 1] * layer(theta, k);
}

void LinearChain::product_derivatives(const double* theta, const double* direction,
                                      const std::vector<RowMatrix>& prefix, const std::vector<RowMatrix>& suffix,
                                      std::vector<RowMatrix>& dprefix, std::vector<RowMatrix>& dsuffix) const {
  const int L = static_cast<int>(widths_.size()) - 1;
  dprefix.assign(L + 1, RowMatrix());
  dsuffix.assign(L + 1, RowMatrix());
  dprefix[0] = RowMatrix::Zero(widths_[0], widths_[0]);
  for (int k = 1; k <= L; ++k)
    dprefix[k] = layer(direction, k - 1) * prefix[k - 1] + layer(theta, k - 1) * dprefix[k - 1];
  dsuffix[L] = RowMatrix::Zero(widths_[L], widths_[L]);
  for (int k = L - 1; k >= 0; --k)
    dsuffix[k] = dsuffix[k + 1] * layer(theta, k) + suffix[k + 1] * layer(direction, k);
}

void LinearChain::lift(const double* theta, double* lifted) const {
  std::vector<RowMatrix> prefix, suffix;
  products(theta, prefix, suffix);
  MatrixMap(lifted, widths_.back(), widths_.front()) = prefix.back();
}

// Layer l (0-based) has left factor suffix[l+1] (d_L x d_{l+1}) and right factor prefix[l]
// (d_l x d_0): J[(i, j), W_l[a, b]] = left[i, a] right[b, j].
void LinearChain::fill_jacobian(const std::vector<RowMatrix>& left, const std::vector<RowMatrix>& right,
                                double* jac, bool accumulate) const {
  const int L = static_cast<int>(widths_.size()) - 1;
  const int n_out = widths_[L], n_in = widths_[0], D = n_params_;
  if (!accumulate) std::fill(jac, jac + static_cast<std::int64_t>(n_out) * n_in * D, 0.0);
  for (int l = 0; l < L; ++l) {
    const RowMatrix& lf = left[l + 1];
    const RowMatrix& rf = right[l];
    const int rows = widths_[l + 1], cols = widths_[l];
    for (int i = 0; i < n_out; ++i)
      for (int j = 0; j < n_in; ++j) {
        double* row = jac + (static_cast<std::int64_t>(i) * n_in + j) * D + offsets_[l];
        for (int a = 0; a < rows; ++a)
          for (int b = 0; b < cols; ++b) row[a * cols + b] += lf(i, a) * rf(b, j);
      }
  }
}

void LinearChain::jacobian(const double* theta, double* jac) const {
  std::vector<RowMatrix> prefix, suffix;
  products(theta, prefix, suffix);
  fill_jacobian(suffix, prefix, jac, false);
}

void LinearChain::vjp(const double* theta, const double* w, double* out) const {
  std::vector<RowMatrix> prefix, suffix;
  products(theta, prefix, suffix);
  const ConstMatrixMap G(w, widths_.back(), widths_.front());
  const int L = static_cast<int>(widths_.size()) - 1;
  for (int l = 0; l < L; ++l) {
    const RowMatrix left = suffix[l + 1].transpose() * G;  // (d_{l+1}, d_0)
    MatrixMap(out + offsets_[l], widths_[l + 1], widths_[l]).noalias() = left * prefix[l].transpose();
  }
}

void LinearChain::jvp(const double* theta, const double* v, double* out) const {
  std::vector<RowMatrix> prefix, suffix;
  products(theta, prefix, suffix);
  const int L = static_cast<int>(widths_.size()) - 1;
  RowMatrix total = RowMatrix::Zero(widths_.back(), widths_.front());
  for (int l = 0; l < L; ++l) {
    const RowMatrix right = layer(v, l) * prefix[l];  // (d_{l+1}, d_0)
    total.noalias() += suffix[l + 1] * right;
  }
  MatrixMap(out, widths_.back(), widths_.front()) = total;
}

void LinearChain::jacobian_derivative(const double* theta, const double* direction, double* djac) const {
  std::vector<RowMatrix> prefix, suffix, dprefix, dsuffix;
  products(theta, prefix, suffix);
  product_derivatives(theta, direction, prefix, suffix, dprefix, dsuffix);
  // d(left[i,a] right[b,j]) = dleft right + left dright
  fill_jacobian(dsuffix, prefix, djac, false);
  fill_jacobian(suffix, dprefix, djac, true);
}

void LinearChain::conserved(const double* theta, double* laws) const {
  const int L = static_cast<int>(widths_.size()) - 1;
  int k = 0;
  for (int l = 0; l + 1 < L; ++l) {
    const auto lower = layer(theta, l);
    const auto upper = layer(theta, l + 1);
    const RowMatrix H = upper.transpose() * upper - lower * lower.transpose();
    for (int i = 0; i < H.rows(); ++i)
      for (int j = i; j < H.cols(); ++j) laws[k++] = H(i, j);
  }
}

void LinearChain::conserved_jacobian(const double* theta, double* jac) const {
  const int L = static_cast<int>(widths_.size()) - 1, D = n_params_;
  std::fill(jac, jac + static_cast<std::int64_t>(n_laws_) * D, 0.0);
  int k = 0;
  for (int l = 0; l + 1 < L; ++l) {
    const auto lower = layer(theta, l);      // W_l: (n, p)
    const auto upper = layer(theta, l + 1);  // W_{l+1}: (q, n)
    const int n = widths_[l + 1], p = widths_[l], q = widths_[l + 2];
    for (int i = 0; i < n; ++i)
      for (int j = i; j < n; ++j, ++k) {
        double* row = jac + static_cast<std::int64_t>(k) * D;
        // d(W^T W)[i, j] / d W[a, b] = delta_{bi} W[a, j] + delta_{bj} W[a, i]
        for (int a = 0; a < q; ++a) {
          row[offsets_[l + 1] + a * n + i] += upper(a, j);
          row[offsets_[l + 1] + a * n + j] += upper(a, i);
        }
        // d(W W^T)[i, j] / d W[a, b] = delta_{ai} W[j, b] + delta_{aj} W[i, b]
        for (int b = 0; b < p; ++b) {
          row[offsets_[l] + i * p + b] -= lower(j, b);
          row[offsets_[l] + j * p + b] -= lower(i, b);
        }
      }
  }
}

}  // namespace intrinsic_flow
