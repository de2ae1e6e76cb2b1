// Numerical rank of a symmetric positive semidefinite matrix (a Gram matrix) from its eigenvalues.
#pragma once

#include "types.hpp"

namespace intrinsic_flow {

// Eigenvalues of a symmetric matrix, in decreasing order.
Vector symmetric_eigenvalues_desc(const RowMatrix& gram);

// Number of eigenvalues above rtol * largest eigenvalue. With rtol <= 0 the default
// 10 * n * eps is used: a Gram matrix squares the singular values, so its rounding errors are
// of order n * eps * largest eigenvalue.
int gram_rank(const Vector& eigenvalues_desc, double rtol);
double default_gram_rtol(int n);

}  // namespace intrinsic_flow
