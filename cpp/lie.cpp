#include "lie.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "interrupt.hpp"
#include "parallel.hpp"
#include "path_sums.hpp"

namespace intrinsic_flow {

namespace {

using fp::add;
using fp::inverse;
using fp::mul;
using fp::P;
using fp::sub;
using fp::u64;

// Threads pay off only for enough work: a parallel region costs tens of microseconds, far more
// on a loaded machine, and most counts take well under a millisecond.
inline bool worth_threads(double operations) { return operations > 4.0e6; }

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

// Sums of terms c x^vars d/dx_comp keyed by (comp, vars): an open-addressing hash table whose keys
// live in one flat pool (no allocation per term). Insertion order is deterministic, and sums in
// F_p are exact, so the resulting field does not depend on anything but its inputs.
class TermAccumulator {
 public:
  TermAccumulator() : slots_(1024, -1) {}

  void add(int comp, const std::vector<int>& vars, u64 c) {
    u64 h = 0x9E3779B97F4A7C15ull ^ static_cast<u64>(comp);
    for (const int v : vars) h = (h ^ static_cast<u64>(v)) * 0x100000001B3ull;
    h ^= h >> 29;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t slot = h & mask;; slot = (slot + 1) & mask) {
      const int entry = slots_[slot];
      if (entry < 0) {
        insert(slot, h, comp, vars, c);
        return;
      }
      if (hash_[entry] == h && component_[entry] == comp && length_[entry] == static_cast<int>(vars.size()) &&
          std::equal(vars.begin(), vars.end(), pool_.begin() + start_[entry])) {
        coeff_[entry] = add_mod(coeff_[entry], c);
        return;
      }
    }
  }

  Field to_field() const {
    Field out;
    for (std::size_t e = 0; e < coeff_.size(); ++e)
      if (coeff_[e]) out.push(component_[e], coeff_[e], pool_.data() + start_[e], pool_.data() + start_[e] + length_[e]);
    return out;
  }

 private:
  static u64 add_mod(u64 a, u64 b) { return fp::add(a, b); }

  void insert(std::size_t slot, u64 h, int comp, const std::vector<int>& vars, u64 c) {
    const int entry = static_cast<int>(coeff_.size());
    slots_[slot] = entry;
    hash_.push_back(h);
    component_.push_back(comp);
    start_.push_back(static_cast<int>(pool_.size()));
    length_.push_back(static_cast<int>(vars.size()));
    pool_.insert(pool_.end(), vars.begin(), vars.end());
    coeff_.push_back(c);
    if (2 * coeff_.size() > slots_.size()) rehash();
  }

  void rehash() {
    std::vector<int> slots(slots_.size() * 2, -1);
    const std::size_t mask = slots.size() - 1;
    for (std::size_t e = 0; e < hash_.size(); ++e) {
      std::size_t slot = hash_[e] & mask;
      while (slots[slot] >= 0) slot = (slot + 1) & mask;
      slots[slot] = static_cast<int>(e);
    }
    slots_.swap(slots);
  }

  std::vector<int> slots_;
  std::vector<u64> hash_, coeff_;
  std::vector<int> component_, start_, length_, pool_;
};

// merged = sorted(a + b minus one occurrence of drop)
void merge_without(const int* a_first, const int* a_last, const int* b_first, const int* b_last, int drop,
                   std::vector<int>& merged) {
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
}

// [f, g] = Dg f - Df g as a polynomial field.
Field bracket(const Field& f, const Field& g, int n) {
  const auto index_f = terms_by_variable(f, n), index_g = terms_by_variable(g, n);
  TermAccumulator terms;
  std::vector<int> merged;
  for (std::size_t s = 0; s < f.n_terms(); ++s) {  // f_i d/dx_i of the terms of g containing x_i
    const int i = f.component[s];
    for (const auto& [t, multiplicity] : index_g[i]) {
      merge_without(&f.vars[f.offset[s]], &f.vars[f.offset[s + 1]], &g.vars[g.offset[t]], &g.vars[g.offset[t + 1]], i,
                    merged);
      terms.add(g.component[t], merged, mul(mul(f.coeff[s], g.coeff[t]), static_cast<u64>(multiplicity)));
    }
  }
  for (std::size_t t = 0; t < g.n_terms(); ++t) {  // - g_j d/dx_j of the terms of f containing x_j
    const int j = g.component[t];
    for (const auto& [s, multiplicity] : index_f[j]) {
      merge_without(&g.vars[g.offset[t]], &g.vars[g.offset[t + 1]], &f.vars[f.offset[s]], &f.vars[f.offset[s + 1]], j,
                    merged);
      terms.add(f.component[s], merged, sub(0, mul(mul(f.coeff[s], g.coeff[t]), static_cast<u64>(multiplicity))));
    }
  }
  return terms.to_field();
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
  if (n_bytes > max_bytes) {
    char sizes[96];
    std::snprintf(sizes, sizeof(sizes), " would need %.1f MiB, more than intrinsic_flow.config.max_bytes = %.1f MiB",
                  n_bytes / 1048576.0, max_bytes / 1048576.0);
    throw std::length_error(what + sizes + "; use a smaller model or raise config.max_bytes");
  }
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
  parallel_for_dynamic<long>(static_cast<long>(d), worth_threads(double(d) * n), 64, [&](long q) {
    const std::vector<u64> dense = value_at(fields[q], point, n);
    for (int k = 0; k < n; ++k)
      if (dense[k]) values[q].emplace_back(k, dense[k]);
  });
  std::vector<std::vector<u64>> compressed(n, std::vector<u64>(n, 0));
  parallel_for_static<int>(n, worth_threads(double(d) * n), [&](int s) {
    auto& row = compressed[s];
    for (std::size_t q = 0; q < d; ++q) {
      const u64 r = random_entry(static_cast<u64>(s) * d + q);
      for (const auto& [k, value] : values[q]) row[k] = add(row[k], mul(r, value));
    }
  });
  for (auto& v : compressed) echelon.add(v);
  return echelon.rank();
}

}  // namespace

int path_lift_rank_modular(int n_neurons, int n_inputs, int n_outputs, const std::vector<int>& src,
                           const std::vector<int>& dst, const std::vector<u64>& point_values) {
  const int n = static_cast<int>(src.size());
  if (static_cast<int>(dst.size()) != n) throw std::invalid_argument("param_src and param_dst differ in length");
  for (int e = 0; e < n; ++e)
    if (src[e] < -1 || src[e] >= n_neurons || dst[e] < 0 || dst[e] >= n_neurons)
      throw std::invalid_argument("edge index out of range");
  const Point point = make_point(point_values, n);
  std::vector<std::vector<int>> in_params(n_neurons), out_params(n_neurons), children(n_neurons);
  std::vector<int> indegree(n_neurons, 0), order;
  for (int e = 0; e < n; ++e) {
    in_params[dst[e]].push_back(e);
    if (src[e] >= 0) out_params[src[e]].push_back(e), children[src[e]].push_back(dst[e]), ++indegree[dst[e]];
  }
  for (int v = 0; v < n_neurons; ++v)
    if (!indegree[v]) order.push_back(v);
  for (std::size_t k = 0; k < order.size(); ++k)
    for (const int child : children[order[k]])
      if (--indegree[child] == 0) order.push_back(child);
  if (static_cast<int>(order.size()) != n_neurons) throw std::invalid_argument("the path graph has a cycle");
  // G = J^T J over F_p by the same path sums as PathGraph::gram over the reals.
  std::vector<Fp> theta(n), gram(static_cast<std::size_t>(n) * n);
  for (int e = 0; e < n; ++e) theta[e] = Fp(point.x[e]);
  path_sum_gram<Fp>(PathGraphView{n_neurons, n_inputs, n_outputs, src, dst, order, in_params, out_params}, theta.data(),
                    gram.data());
  Echelon echelon(n);
  for (int e = 0; e < n; ++e) {
    std::vector<u64> row(n);
    for (int f = 0; f < n; ++f) row[f] = gram[static_cast<std::size_t>(e) * n + f].value;
    echelon.add(std::move(row));
  }
  return echelon.rank();
}

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
    poll_interrupt();
    if (echelon.add(value_at(f, point, n))) basis.push_back(&f);
    if (echelon.rank() == rank0) break;
  }
  check_bytes(8.0 * n * n * (basis.size() + 1), max_bytes, "the Jacobians at the point of the basis fields");
  std::vector<std::vector<u64>> base_jac(basis.size()), base_value(basis.size());
  parallel_for_dynamic<long>(static_cast<long>(basis.size()), worth_threads(double(basis.size()) * n * n), 1,
                             [&](long j) {
                               base_jac[j] = jacobian_at(*basis[j], point, n);
                               base_value[j] = value_at(*basis[j], point, n);
                             });

  std::vector<Field> newest_storage;
  std::vector<const Field*> newest = basis;
  while (true) {
    std::vector<std::pair<const Field*, const Field*>> kept;  // (f in basis, g of the last level)
    for (const Field* g : newest) {
      poll_interrupt();
      const std::vector<u64> jac_g = jacobian_at(*g, point, n), value_g = value_at(*g, point, n);
      std::vector<std::vector<u64>> candidates(basis.size());
      parallel_for_static<long>(static_cast<long>(basis.size()), worth_threads(double(basis.size()) * n * n),
                                [&](long j) { candidates[j] = bracket_value(jac_g, base_value[j], base_jac[j], value_g, n); });
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
    parallel_for_dynamic<long>(static_cast<long>(kept.size()), worth_threads(work), 1,
                               [&](long k) { next[k] = bracket(*kept[k].first, *kept[k].second, n); });
    newest_storage = std::move(next);
    newest.clear();
    for (const auto& f : newest_storage) newest.push_back(&f);
  }
}

}  // namespace intrinsic_flow
