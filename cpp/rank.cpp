#include "rank.hpp"

#include <Eigen/Eigenvalues>
#include <limits>

namespace intrinsic_flow {

Vector symmetric_eigenvalues_desc(const RowMatrix& gram) {
  if (gram.rows() == 0) return Vector(0);
  Eigen::MatrixXd colmajor = gram;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(colmajor, Eigen::EigenvaluesOnly);
  Vector ascending = solver.eigenvalues();
  return ascending.reverse();
}

double default_gram_rtol(int n) {
  return 10.0 * static_cast<double>(n > 1 ? n : 1) * std::numeric_limits<double>::epsilon();
}

int gram_rank(const Vector& eigenvalues_desc, double rtol) {
  if (eigenvalues_desc.size() == 0) return 0;
  const double largest = eigenvalues_desc(0);
  if (!(largest > 0.0)) return 0;
  if (rtol <= 0.0) rtol = default_gram_rtol(static_cast<int>(eigenvalues_desc.size()));
  const double threshold = rtol * largest;
  int rank = 0;
  for (Eigen::Index i = 0; i < eigenvalues_desc.size(); ++i)
    if (eigenvalues_desc(i) > threshold) ++rank;
  return rank;
}

}  // namespace intrinsic_flow
