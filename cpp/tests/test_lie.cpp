// Exact counts over F_p: the Lie algebra of a two-layer linear network against the known number of
// laws r (r + 1) / 2, and the rank of the path-lifting of ReLU networks by path sums (the
// template shared with the real Gram) against the direct rank of its gradients.
#include <cmath>
#include <vector>

#include "check.hpp"
#include "lie.hpp"
#include "lifting.hpp"
#include "modular.hpp"

using namespace intrinsic_flow;

namespace {

std::uint64_t point_coordinate(int k) { return (0x9E3779B97F4A7C15ull * (k + 1)) % kLieModulus + 1; }

std::vector<std::uint64_t> point(int n) {
  std::vector<std::uint64_t> x(n);
  for (int k = 0; k < n; ++k) x[k] = point_coordinate(k) % (kLieModulus - 1) + 1;
  return x;
}

void add_term(TermTable& table, int poly, std::uint64_t coeff, std::vector<std::int64_t> vars) {
  table.poly.push_back(poly);
  table.coeff.push_back(coeff);
  vars.resize(table.degree, -1);
  table.monomials.insert(table.monomials.end(), vars.begin(), vars.end());
}

// phi = (V U).ravel() for U (r, n) at 0 .. r n - 1 and V (m, r) after it; the known laws are the
// entries a <= b of U U^T - V^T V.
void two_layer_linear(int n, int r, int m, TermTable& lifted, TermTable& laws) {
  const int D = r * n + m * r;
  lifted = TermTable{D, m * n, 2, {}, {}, {}};
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j)
      for (int k = 0; k < r; ++k) add_term(lifted, i * n + j, 1, {k * n + j, r * n + i * r + k});
  laws = TermTable{D, r * (r + 1) / 2, 2, {}, {}, {}};
  int law = 0;
  for (int a = 0; a < r; ++a)
    for (int b = a; b < r; ++b, ++law) {
      for (int j = 0; j < n; ++j) add_term(laws, law, 1, {a * n + j, b * n + j});
      for (int i = 0; i < m; ++i) add_term(laws, law, kLieModulus - 1, {r * n + i * r + a, r * n + i * r + b});
    }
}

void test_two_layer_linear_counts() {
  // (n, r, m) -> dims of W_0 and of the Lie algebra; the number of laws is D - dim = r (r + 1) / 2.
  struct Case { int n, r, m, dim_w, dim_lie; };
  for (const Case& c : {Case{2, 2, 2, 4, 5}, Case{2, 3, 2, 4, 6}, Case{3, 2, 3, 8, 9}}) {
    TermTable lifted, laws;
    two_layer_linear(c.n, c.r, c.m, lifted, laws);
    const int D = lifted.n_vars;
    const TermTable no_laws{D, 0, 1, {}, {}, {}};
    const LieTraceResult alone = lie_trace_modular(lifted, no_laws, point(D), 1e9);
    CHECK_EQ(alone.dims_by_depth.front(), c.dim_w);
    CHECK_EQ(alone.dims_by_depth.back(), c.dim_lie);
    CHECK_EQ(D - alone.dims_by_depth.back(), c.r * (c.r + 1) / 2);
    CHECK(!alone.bound_reached);
    const LieTraceResult bounded = lie_trace_modular(lifted, laws, point(D), 1e9);
    CHECK_EQ(bounded.rank_known_laws, c.r * (c.r + 1) / 2);
    CHECK(bounded.bound_reached);
    CHECK(bounded.dims_by_depth == alone.dims_by_depth);
  }
}

void test_relu_path_rank_by_path_sums() {
  // Layered [n0, n1, n2] with hidden biases: rank dphi = D - #hidden, both from the Gram matrix by
  // path sums over F_p and from the gradients of the path monomials.
  struct Shape { int n0, n1, n2; };
  for (const Shape& s : {Shape{2, 3, 1}, Shape{2, 3, 2}, Shape{3, 2, 2}}) {
    std::vector<int> src, dst;
    const int hidden = s.n0, output = s.n0 + s.n1;
    for (int j = 0; j < s.n1; ++j)
      for (int i = 0; i < s.n0; ++i) src.push_back(i), dst.push_back(hidden + j);
    for (int j = 0; j < s.n1; ++j) src.push_back(-1), dst.push_back(hidden + j);
    for (int k = 0; k < s.n2; ++k)
      for (int j = 0; j < s.n1; ++j) src.push_back(hidden + j), dst.push_back(output + k);
    const int D = static_cast<int>(src.size()), n_neurons = s.n0 + s.n1 + s.n2;
    const int by_sums = path_lift_rank_modular(n_neurons, s.n0, s.n2, src, dst, point(D));
    CHECK_EQ(by_sums, D - s.n1);
    // the path monomials: (input i or bias of j) -> j -> output k
    TermTable paths{D, 0, 2, {}, {}, {}};
    for (int e = 0; e < D; ++e) {
      if (dst[e] >= output) continue;
      for (int f = 0; f < D; ++f)
        if (src[f] == dst[e]) add_term(paths, paths.n_polys++, 1, {e, f});
    }
    CHECK_EQ(gradient_rank_modular(paths, point(D)), by_sums);
  }
}

void test_gram_over_reals_and_over_fp_agree() {
  // At small integer weights every entry of G is an integer below 2^53, exact in double: the one
  // template computes the same integers over R and over F_p (negative ones as p - |x|).
  const std::vector<int> src = {0, 1, 0, 1, -1, 2, 3, 2, 3, -1}, dst = {2, 2, 3, 3, 3, 4, 4, 5, 5, 5};
  PathGraph graph(6, 2, 2, src, dst);
  const int D = graph.n_params();
  const std::vector<double> theta = {1, -2, 3, 2, -1, 1, 2, -3, 1, 2};
  std::vector<double> real(D * D);
  std::vector<Fp> theta_fp(D), modular(D * D);
  for (int e = 0; e < D; ++e) theta_fp[e] = Fp(theta[e] < 0 ? kLieModulus - static_cast<std::uint64_t>(-theta[e])
                                                            : static_cast<std::uint64_t>(theta[e]));
  path_sum_gram<double>(graph.view(), theta.data(), real.data());
  path_sum_gram<Fp>(graph.view(), theta_fp.data(), modular.data());
  bool all_equal = true, some_negative = false;
  for (int k = 0; k < D * D; ++k) {
    const double x = real[k];
    some_negative = some_negative || x < 0;
    const std::uint64_t expected = x < 0 ? kLieModulus - static_cast<std::uint64_t>(-x) : static_cast<std::uint64_t>(x);
    all_equal = all_equal && x == std::round(x) && modular[k].value == expected;
  }
  CHECK(all_equal);
  CHECK(some_negative);
}

void test_field_arithmetic() {
  const std::uint64_t p = kLieModulus;
  CHECK_EQ(fp::add(p - 1, 1), 0ull);
  CHECK_EQ(fp::mul(p - 1, p - 1), 1ull);  // (-1)^2
  CHECK_EQ(fp::mul(fp::inverse(12345), 12345), 1ull);
  CHECK((Fp(p - 2) + Fp(3)) * Fp(5) == Fp(5));
}

}  // namespace

int main() {
  test_field_arithmetic();
  test_two_layer_linear_counts();
  test_relu_path_rank_by_path_sums();
  test_gram_over_reals_and_over_fp_agree();
  return check::finish("test_lie");
}
