// Dense types shared by the core. Row-major so that C-order NumPy arrays map without a copy.
#pragma once

#include <Eigen/Dense>
#include <cstdint>

namespace intrinsic_flow {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXd;
using RowMatrixRef = Eigen::Ref<const RowMatrix>;
using VectorRef = Eigen::Ref<const Vector>;
using MatrixMap = Eigen::Map<RowMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMatrix>;

}  // namespace intrinsic_flow
