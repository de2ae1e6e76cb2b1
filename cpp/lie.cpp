#include "lie.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "parallel.hpp"

namespace intrinsic_flow {

namespace {

using u64 = std::uint64_t;
using u128 = unsigned __int128;
constexpr u64 P = kLieModulus;

// -- arithmetic in F_p, p = 2^61 - 1 (a Mersenne prime: x mod p = (x & p) + (x >> 61)) -----------
inline u64 reduce(u128 x) {
  u64 s = static_cast<u64>(x & P) + static_cast<u64>(x >> 61);
  s = (s & P) + (s >> 61);
  return s >= P ? s - P : s;
}
inline u64 mul(u64 a, u64 b) { return reduce(static_cast<u128>(a) * b); }
inline u64 add(u64 a, u64 b) {
  u64 s = a + b;
  return s >= P ? s - P : s;
}
inline u64 sub(u64 a, u64 b) { return a >= b ? a - b : a + P - b; }
u64 power(u64 base, u64 exponent) {
  u64 result = 1;
  while (exponent) {
    if (exponent & 1) result = mul(result, base);
    base = mul(base, base);
    exponent >>= 1;
  }
  return result;
}
inline u64 inverse(u64 a) { return power(a, P - 2); }

// Counter-based random numbers (splitmix64): entry k of a random matrix does not depend on the
// order in which entries are drawn, hence not on the thread count.
inline u64 random_entry(u64 k) {
  u64 z = k + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return z % P;
}

// -- sparse polynomial vector fields ------------------------------------------------------------
// Term t: coeff[t] x^{vars[offset[t] .. offset[t+1])} d/dx_{component[t]} (vars sorted, repeated).
struct Field {
  std::vector<int> component;
  std::vector<u64> coeff;
  std::vector<int> offset{0};
  std::vector<int> vars;

  std::size_t n_terms() const { return coeff.size(); }
  void push(int comp, u64 c, const int* first, const int* last) {
    component.push_back(comp);
    coeff.push_back(c);
    vars.insert(vars.end(), first, last);
    offset.push_back(static_cast<int>(vars.size()));
  }
};

std::vector<Field> gradient_fields(const TermTable& table) {
  std::vector<Field> fields(table.n_polys);
  std::vector<int> mono, rest;
  for (std::size_t t = 0; t < table.coeff.size(); ++t) {
    mono.clear();
    for (int k = 0; k < table.degree; ++k) {
      const std::int64_t v = table.monomials[t * table.degree + k];
      if (v >= 0) mono.push_back(static_cast<int>(v));
    }
    for (std::size_t k = 0; k < mono.size(); ++k) {
      if (k && mono[k - 1] == mono[k]) continue;  // d/dx_v x_v^m = m x_v^(m-1), once per variable
      const u64 multiplicity = static_cast<u64>(std::count(mono.begin(), mono.end(), mono[k]));
      rest.assign(mono.begin(), mono.end());
      rest.erase(rest.begin() + static_cast<long>(k));
      fields[table.poly[t]].push(mono[k], mul(table.coeff[t], multiplicity), rest.data(), rest.data() + rest.size());
    }
  }
  return fields;
}

struct Point {
  std::vector<u64> x, inverse_x;
  u64 monomial(const int* first, const int* last) const {
    u64 value = 1;
    for (const int* v = first; v != last; ++v) value = mul(value, x[*v]);
    return value;
  }
};

std::vector<u64> value_at(const Field& f, const Point& point, int n) {
  std::vector<u64> out(n, 0);
  for (std::size_t t = 0; t < f.n_terms(); ++t) {
    const u64 term = mul(f.coeff[t], point.monomial(&f.vars[f.offset[t]], &f.vars[f.offset[t + 1]]));
    out[f.component[t]] = add(out[f.component[t]], term);
  }
  return out;
}

// J[i * n + k] = d f_i / dx_k at the point; x^a / x_k = value * x_k^{-1} (coordinates are nonzero).
std::vector<u64> jacobian_at(const Field& f, const Point& point, int n) {
  std::vector<u64> jac(static_cast<std::size_t>(n) * n, 0);
  for (std::size_t t = 0; t < f.n_terms(); ++t) {
    const int *first = &f.vars[f.offset[t]], *last = &f.vars[f.offset[t + 1]];
    const u64 value = mul(f.coeff[t], point.monomial(first, last));
    for (const int* v = first; v != last; ++v) {
      if (v != first && *(v - 1) == *v) continue;
      const u64 multiplicity = static_cast<u64>(std::count(first, last, *v));
      u64& entry = jac[static_cast<std::size_t>(f.component[t]) * n + *v];
      entry = add(entry, mul(mul(value, multiplicity), point.inverse_x[*v]));
    }
  }
  return jac;
}

// out = A u - B w for dense n x n matrices A, B (row-major) and vectors u, w.
std::vector<u64> bracket_value(const std::vector<u64>& jac_g, const std::vector<u64>& value_f, const std::vector<u64>& jac_f,
                               const std::vector<u64>& value_g, int n) {
  std::vector<u64> out(n);
  for (int i = 0; i < n; ++i) {
    u64 plus = 0, minus = 0;
    const u64* row_g = &jac_g[static_cast<std::size_t>(i) * n];
    const u64* row_f = &jac_f[static_cast<std::size_t>(i) * n];
    for (int k = 0; k < n; ++k) {
      plus = add(plus, mul(row_g[k], value_f[k]));
      minus = add(minus, mul(row_f[k], value_g[k]));
    }
    out[i] = sub(plus, minus);
  }
  return out;
}

// For every variable, the terms of f whose monomial contains it, with the multiplicity.
std::vector<std::vector<std::pair<int, int>>> terms_by_variable(const Field& f, int n) {
  std::vector<std::vector<std::pair<int, int>>> index(n);
  for (std::size_t t = 0; t < f.n_terms(); ++t) {
    const int *first = &f.vars[f.offset[t]], *last = &f.vars[f.offset[t + 1]];
    for (const int* v = first; v != last; ++v) {
      if (v != first && *(v - 1) == *v) continue;
      index[*v].emplace_back(static_cast<int>(t), static_cast<int>(std::count(first, last, *v)));
    }
  }
  return index;
}

double bracket_work(const Field& f, const Field& g, int n) {
  const auto index_f = terms_by_variable(f, n), index_g = terms_by_variable(g, n);
  double pairs = 0.0;
  for (std::size_t t = 0; t < f.n_terms(); ++t) pairs += static_cast<double>(index_g[f.component[t]].size());
  for (std::size_t t = 0; t < g.n_terms(); ++t) pairs += static_cast<double>(index_f[g.component[t]].size());
  return pairs;
}

// Accumulates c * x^{a + b - e_v} d/dx_comp into the map keyed by (component, sorted variables).
void accumulate(std::unordered_map<std::string, u64>& terms, int comp, u64 c, const int* a_first, const int* a_last,
                const int* b_first, const int* b_last, int drop, std::vector<int>& merged) {
  merged.clear();
  merged.insert(merged.end(), a_first, a_last);
  bool dropped = false;
  for (const int* v = b_first; v != b_last; ++v) {
    if (!dropped && *v == drop) {
      dropped = true;
      continue;
    }
    merged.push_back(*v);
  }
  std::sort(merged.begin(), merged.end());
  std::string key(reinterpret_cast<const char*>(&comp), sizeof(int));
  key.append(reinterpret_cast<const char*>(merged.data()), merged.size() * sizeof(int));
  u64& slot = terms[key];
  slot = add(slot, c);
}

// [f, g] = Dg f - Df g as a polynomial field.
Field bracket(const Field& f, const Field& g, int n) {
  const auto index_f = terms_by_variable(f, n), index_g = terms_by_variable(g, n);
  std::unordered_map<std::string, u64> terms;
  std::vector<int> merged;
  for (std::size_t s = 0; s < f.n_terms(); ++s) {  // f_i d/dx_i of the terms of g containing x_i
    const int i = f.component[s];
    for (const auto& [t, multiplicity] : index_g[i]) {
      const u64 c = mul(mul(f.coeff[s], g.coeff[t]), static_cast<u64>(multiplicity));
      accumulate(terms, g.component[t], c, &f.vars[f.offset[s]], &f.vars[f.offset[s + 1]], &g.vars[g.offset[t]],
                 &g.vars[g.offset[t + 1]], i, merged);
    }
  }
  for (std::size_t t = 0; t < g.n_terms(); ++t) {  // - g_j d/dx_j of the terms of f containing x_j
    const int j = g.component[t];
    for (const auto& [s, multiplicity] : index_f[j]) {
      const u64 c = mul(mul(f.coeff[s], g.coeff[t]), static_cast<u64>(multiplicity));
      accumulate(terms, f.component[s], sub(0, c), &g.vars[g.offset[t]], &g.vars[g.offset[t + 1]], &f.vars[f.offset[s]],
                 &f.vars[f.offset[s + 1]], j, merged);
    }
  }
  // Terms in sorted key order: the field does not depend on hash-table iteration order.
  std::vector<const std::pair<const std::string, u64>*> sorted;
  sorted.reserve(terms.size());
  for (const auto& entry : terms)
    if (entry.second) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  Field out;
  for (const auto* entry : sorted) {
    const int* data = reinterpret_cast<const int*>(entry->first.data());
    const std::size_t count = entry->first.size() / sizeof(int);
    out.push(data[0], entry->second, data + 1, data + count);
  }
  return out;
}

// -- row echelon form over F_p ------------------------------------------------------------------
class Echelon {
 public:
  explicit Echelon(int n) : n_(n) {}
  int rank() const { return static_cast<int>(pivots_.size()); }
  // Keeps the vector (reduced and normalised) iff it raises the rank.
  bool add(std::vector<u64> v) {
    for (std::size_t r = 0; r < pivots_.size(); ++r) {
      const u64 factor = v[pivots_[r]];
      if (!factor) continue;
      const u64* row = &rows_[r * n_];
      for (int k = 0; k < n_; ++k) v[k] = sub(v[k], mul(factor, row[k]));
    }
    const auto nonzero = std::find_if(v.begin(), v.end(), [](u64 x) { return x != 0; });
    if (nonzero == v.end()) return false;
    const int pivot = static_cast<int>(nonzero - v.begin());
    const u64 scale = inverse(v[pivot]);
    for (auto& x : v) x = mul(x, scale);
    rows_.insert(rows_.end(), v.begin(), v.end());
    pivots_.push_back(pivot);
    return true;
  }

 private:
  int n_;
  std::vector<u64> rows_;
  std::vector<int> pivots_;
};

void check_table(const TermTable& table, const char* name) {
  const std::size_t n_terms = table.coeff.size();
  if (table.poly.size() != n_terms || table.monomials.size() != n_terms * static_cast<std::size_t>(table.degree))
    throw std::invalid_argument(std::string(name) + ": inconsistent term table sizes");
  for (std::size_t t = 0; t < n_terms; ++t) {
    if (table.poly[t] < 0 || table.poly[t] >= table.n_polys)
      throw std::invalid_argument(std::string(name) + ": polynomial index out of range");
    if (table.coeff[t] >= P) throw std::invalid_argument(std::string(name) + ": coefficient not reduced mod p");
    for (int k = 0; k < table.degree; ++k) {
      const std::int64_t v = table.monomials[t * table.degree + k];
      if (v >= table.n_vars || v < -1) throw std::invalid_argument(std::string(name) + ": variable index out of range");
      if (k && v >= 0 && (table.monomials[t * table.degree + k - 1] > v || table.monomials[t * table.degree + k - 1] < 0))
        throw std::invalid_argument(std::string(name) + ": monomial variables must be sorted, padding last");
    }
  }
}

void check_bytes(double n_bytes, double max_bytes, const std::string& what) {
  if (n_bytes > max_bytes)
    throw std::length_error(what + " would need " + std::to_string(n_bytes / (1024.0 * 1024.0)) +
                            " MiB, more than intrinsic_flow.config.max_bytes");
}

Point make_point(const std::vector<u64>& x, int n) {
  if (static_cast<int>(x.size()) != n) throw std::invalid_argument("point must have length n_vars");
  Point point{x, std::vector<u64>(n)};
  for (int k = 0; k < n; ++k) {
    if (x[k] == 0 || x[k] >= P) throw std::invalid_argument("point coordinates must lie in 1..p-1");
    point.inverse_x[k] = inverse(x[k]);
  }
  return point;
}

// Rank of the values of the fields at the point. With more fields than dimensions the values are
// first compressed by a random matrix R (n x d): rank(R V) = rank(V) unless a nonzero minor,
// a polynomial of degree <= n in the entries of R, vanishes (probability <= n / p).
int value_rank(const std::vector<Field>& fields, const Point& point, int n) {
  const std::size_t d = fields.size();
  Echelon echelon(n);
  if (d <= static_cast<std::size_t>(n)) {
    for (const auto& f : fields) echelon.add(value_at(f, point, n));
    return echelon.rank();
  }
  std::vector<std::vector<std::pair<int, u64>>> values(d);  // sparse: a path touches few parameters
#pragma omp parallel for schedule(dynamic, 64)
  for (long q = 0; q < static_cast<long>(d); ++q) {
    const std::vector<u64> dense = value_at(fields[q], point, n);
    for (int k = 0; k < n; ++k)
      if (dense[k]) values[q].emplace_back(k, dense[k]);
  }
  std::vector<std::vector<u64>> compressed(n, std::vector<u64>(n, 0));
#pragma omp parallel for schedule(static)
  for (int s = 0; s < n; ++s) {
    auto& row = compressed[s];
    for (std::size_t q = 0; q < d; ++q) {
      const u64 r = random_entry(static_cast<u64>(s) * d + q);
      for (const auto& [k, value] : values[q]) row[k] = add(row[k], mul(r, value));
    }
  }
  for (auto& v : compressed) echelon.add(v);
  return echelon.rank();
}

}  // namespace

int gradient_rank_modular(const TermTable& table, const std::vector<u64>& point_values) {
  check_table(table, "table");
  const Point point = make_point(point_values, table.n_vars);
  return value_rank(gradient_fields(table), point, table.n_vars);
}

LieTraceResult lie_trace_modular(const TermTable& lifted, const TermTable& laws, const std::vector<u64>& point_values,
                                 double max_bytes) {
  check_table(lifted, "lifted");
  check_table(laws, "laws");
  if (laws.n_vars != lifted.n_vars) throw std::invalid_argument("lifted and laws must have the same n_vars");
  const int n = lifted.n_vars;
  const Point point = make_point(point_values, n);
  LieTraceResult result;
  result.rank_known_laws = laws.n_polys ? value_rank(gradient_fields(laws), point, n) : 0;
  const int bound = n - result.rank_known_laws;

  const std::vector<Field> fields = gradient_fields(lifted);
  // Level 0: rank of dphi at the point; a basis of fields is needed only if brackets follow.
  const int rank0 = value_rank(fields, point, n);
  result.dims_by_depth.push_back(rank0);
  if (rank0 == bound) {
    result.bound_reached = true;
    return result;
  }
  Echelon echelon(n);
  std::vector<const Field*> basis;
  for (const auto& f : fields) {
    if (echelon.add(value_at(f, point, n))) basis.push_back(&f);
    if (echelon.rank() == rank0) break;
  }
  check_bytes(8.0 * n * n * (basis.size() + 1), max_bytes, "the Jacobians at the point of the basis fields");
  std::vector<std::vector<u64>> base_jac(basis.size()), base_value(basis.size());
#pragma omp parallel for schedule(dynamic)
  for (long j = 0; j < static_cast<long>(basis.size()); ++j) {
    base_jac[j] = jacobian_at(*basis[j], point, n);
    base_value[j] = value_at(*basis[j], point, n);
  }

  std::vector<Field> newest_storage;
  std::vector<const Field*> newest = basis;
  while (true) {
    std::vector<std::pair<const Field*, const Field*>> kept;  // (f in basis, g of the last level)
    for (const Field* g : newest) {
      const std::vector<u64> jac_g = jacobian_at(*g, point, n), value_g = value_at(*g, point, n);
      std::vector<std::vector<u64>> candidates(basis.size());
#pragma omp parallel for schedule(static)
      for (long j = 0; j < static_cast<long>(basis.size()); ++j)
        candidates[j] = bracket_value(jac_g, base_value[j], base_jac[j], value_g, n);
      for (std::size_t j = 0; j < basis.size() && echelon.rank() < bound; ++j)
        if (echelon.add(std::move(candidates[j]))) kept.emplace_back(basis[j], g);
      if (echelon.rank() == bound) break;
    }
    if (kept.empty()) return result;
    result.dims_by_depth.push_back(echelon.rank());
    if (echelon.rank() == bound) {
      result.bound_reached = true;
      return result;
    }
    double work = 0.0;  // checked before any bracket is expanded
    for (const auto& [f, g] : kept) work += bracket_work(*f, *g, n);
    check_bytes(48.0 * work, max_bytes, "the Lie brackets of the next level");
    std::vector<Field> next(kept.size());
#pragma omp parallel for schedule(dynamic)
    for (long k = 0; k < static_cast<long>(kept.size()); ++k) next[k] = bracket(*kept[k].first, *kept[k].second, n);
    newest_storage = std::move(next);
    newest.clear();
    for (const auto& f : newest_storage) newest.push_back(&f);
  }
}

}  // namespace intrinsic_flow
