// Stand-in for DeepStream's sources/includes/nvdsinfer_custom_impl.h (+ nvdsinfer.h), for compiling and
// running edgemnv2's box parser in tests without DeepStream. It declares only what the parser uses, with
// the field names and types of DeepStream 6.x-7.x's headers (NvDsInferDims, NvDsInferLayerInfo with
// `inferDims`, NvDsInferNetworkInfo, NvDsInferObjectDetectionInfo, NvDsInferParseDetectionParams,
// CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE). Layout-compatibility with the real headers is NOT checked here.
#pragma once
#include <vector>

#define NVDSINFER_MAX_DIMS 8
typedef enum { FLOAT = 0, HALF = 1, INT8 = 2, INT32 = 3 } NvDsInferDataType;
typedef struct {
  unsigned int numDims;
  unsigned int d[NVDSINFER_MAX_DIMS];
  unsigned int numElements;
} NvDsInferDims;
typedef struct {
  NvDsInferDataType dataType;
  NvDsInferDims inferDims;
  int bindingIndex;
  const char *layerName;
  void *buffer;
  int isInput;
} NvDsInferLayerInfo;
typedef struct {
  unsigned int width;
  unsigned int height;
  unsigned int channels;
} NvDsInferNetworkInfo;
typedef struct {
  unsigned int classId;
  float left;
  float top;
  float width;
  float height;
  float detectionConfidence;
} NvDsInferObjectDetectionInfo;
typedef NvDsInferObjectDetectionInfo NvDsInferParseObjectInfo;
typedef struct {
  unsigned int numClassesConfigured;
  std::vector<float> perClassPreclusterThreshold;
  std::vector<float> perClassPostclusterThreshold;
} NvDsInferParseDetectionParams;
typedef bool (*NvDsInferParseCustomFunc)(std::vector<NvDsInferLayerInfo> const &, NvDsInferNetworkInfo const &,
                                         NvDsInferParseDetectionParams const &,
                                         std::vector<NvDsInferObjectDetectionInfo> &);
#define CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(customParseFunc)                                      \
  static void checkFunc_##customParseFunc(NvDsInferParseCustomFunc func = customParseFunc) { \
    checkFunc_##customParseFunc();                                                           \
  };                                                                                         \
  extern "C" bool customParseFunc(std::vector<NvDsInferLayerInfo> const &outputLayersInfo,  \
                                  NvDsInferNetworkInfo const &networkInfo,                   \
                                  NvDsInferParseDetectionParams const &detectionParams,      \
                                  std::vector<NvDsInferObjectDetectionInfo> &objectList);
