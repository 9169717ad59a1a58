# Fails the build when a layer includes what ARCHITECTURE.md forbids it.
# Usage: cmake -DLAYER_DIR=<dir>
#              -DLAYER_NAME=<base|core|host|storage|checker|sim|net_grpc|harness|tests>
#              -P CheckLayers.cmake
# From the bottom up: base (the error vocabulary, under everything), then core, host,
# storage, checker, sim, net_grpc are libraries of the system;
# harness/ (the libraries the programs and tests share) sits above them all; apps/ (programs
# only) and tests/ on top. No layer includes one above it: nothing below harness/ includes
# harness/ or apps/, harness/ does not include apps/, and tests/ do not include apps/.
if(LAYER_NAME STREQUAL "base")
  # Under every layer: nothing of the project but itself.
  set(FORBIDDEN "[<\"](core/|host/|storage/|checker/|sim/|net_grpc/|harness/|apps/|proto/|grpc|grpcpp|google/protobuf)")
elseif(LAYER_NAME STREQUAL "core")
  # Deterministic and free of I/O: no gRPC, protobuf, sim, net_grpc, checker, threads,
  # clocks or std random.
  set(FORBIDDEN "[<\"](grpc|grpcpp|google/protobuf|sim/|net_grpc/|checker/|host/|harness/|apps/|thread>|chrono>|random>|mutex>|future>|iostream>)")
elseif(LAYER_NAME STREQUAL "host")
  # The same code in every world: the world comes in through host/world.h, never from a
  # world's own headers, threads or clocks.
  set(FORBIDDEN "[<\"](grpc|grpcpp|google/protobuf|sim/|net_grpc/|checker/|apps/|harness/|thread>|chrono>|random>|mutex>|future>|iostream>)")
elseif(LAYER_NAME STREQUAL "storage")
  # Files, threads and the core's types, nothing of the layers that drive it: the server
  # (net_grpc/) plugs it into its host, the simulator models its own disk.
  set(FORBIDDEN "[<\"](host/|sim/|net_grpc/|checker/|harness/|apps/|grpc|grpcpp|google/protobuf)")
elseif(LAYER_NAME STREQUAL "checker")
  # The register's specification: nothing of core/ or of the layers that implement it.
  set(FORBIDDEN "[<\"](core/|host/|storage/|sim/|net_grpc/|harness/|apps/|grpc|grpcpp|google/protobuf)")
elseif(LAYER_NAME STREQUAL "sim")
  set(FORBIDDEN "[<\"](net_grpc/|harness/|apps/|grpc|grpcpp|google/protobuf|thread>|chrono>|random>)")
elseif(LAYER_NAME STREQUAL "net_grpc")
  set(FORBIDDEN "[<\"](sim/|checker/|harness/|apps/)")
elseif(LAYER_NAME STREQUAL "harness")
  set(FORBIDDEN "[<\"](apps/)")
elseif(LAYER_NAME STREQUAL "tests")
  set(FORBIDDEN "[<\"](apps/)")
else()
  message(FATAL_ERROR "unknown layer ${LAYER_NAME}")
endif()
file(GLOB_RECURSE sources "${LAYER_DIR}/*.h" "${LAYER_DIR}/*.cc")
set(violations "")
foreach(src IN LISTS sources)
  file(STRINGS "${src}" lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS lines)
    if(line MATCHES "${FORBIDDEN}")
      string(APPEND violations "\n  ${src}: ${line}")
    endif()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "${LAYER_NAME} includes what its layer may not:${violations}")
endif()
