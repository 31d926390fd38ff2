// SPDX-License-Identifier: Apache-2.0
// Format detection by content, file reading and the FormatError message.
#include <gtest/gtest.h>

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <portml/io/error.hpp>
#include <portml/io/format.hpp>

namespace portml::io {
namespace {

ModelFormat detect(const std::string& s) { return detect_format(std::as_bytes(std::span(s.data(), s.size()))); }

TEST(Format, DetectsEachFormatByContent) {
  EXPECT_EQ(detect(std::string("\x08\x08\x12\x07pytorch", 10)), ModelFormat::onnx);
  EXPECT_EQ(detect(R"({"version": [1, 7, 4], "learner": {"attributes": {}}})"), ModelFormat::xgboost_json);
  EXPECT_EQ(detect(std::string("{L\x00\x00\x00\x00\x00\x00\x00\x07learner{", 19)), ModelFormat::xgboost_ubjson);
  EXPECT_EQ(detect("\xEF\xBB\xBF  {\"inputs\": [], \"layers\": [{\"architecture\": \"dense\"}]}"),
            ModelFormat::lwtnn_json);
  EXPECT_EQ(detect("{\"format\": \"portml-gnn\", \"version\": 1}"), ModelFormat::portml_gnn_json);
  EXPECT_EQ(detect("tree\nversion=v4\nnum_class=1\n"), ModelFormat::lightgbm_text);
  EXPECT_EQ(detect("<?xml version=\"1.0\"?>\n<MethodSetup Method=\"BDT::BDTG\">"), ModelFormat::tmva_xml);
}

TEST(Format, UnknownContent) {
  EXPECT_EQ(detect(""), ModelFormat::unknown);
  EXPECT_EQ(detect("hello"), ModelFormat::unknown);
  EXPECT_EQ(detect("{\"a\": 1}"), ModelFormat::unknown);
  EXPECT_EQ(detect("<?xml version=\"1.0\"?><html/>"), ModelFormat::unknown);
  EXPECT_EQ(detect(std::string("\x1f\x8b garbage", 10)), ModelFormat::unknown);
  EXPECT_STREQ(to_string(ModelFormat::unknown), "unknown");
  EXPECT_STREQ(to_string(ModelFormat::tmva_xml), "tmva-xml");
}

std::string gzip(const std::string& s) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(s.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  zs.avail_in = static_cast<uInt>(s.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(Format, LooksIntoGzip) {
  const std::string xml = "<?xml version=\"1.0\"?>\n<MethodSetup Method=\"BDT::BDT\"></MethodSetup>\n";
  const std::string gz = gzip(xml);
  EXPECT_EQ(detect(gz), ModelFormat::tmva_xml);
  EXPECT_EQ(gunzip(gz, "w.xml.gz"), xml);
  try {
    gunzip(gz.substr(0, gz.size() / 2), "w.xml.gz");
    FAIL() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), "w.xml.gz");
    EXPECT_NE(std::string(e.what()).find("truncated gzip stream"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gunzip(gz, "w.xml.gz", 10), FormatError);  // size limit
}

TEST(Format, ReadFileAndErrors) {
  const std::string path = ::testing::TempDir() + "portml_format_test.txt";
  { std::ofstream(path) << "tree\nversion=v4\n"; }
  EXPECT_EQ(read_file(path), "tree\nversion=v4\n");
  EXPECT_EQ(detect_format_file(path), ModelFormat::lightgbm_text);
  EXPECT_THROW(read_file(path, 4), FormatError);
  std::remove(path.c_str());
  try {
    read_file("/nonexistent/model.onnx");
    FAIL() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), "/nonexistent/model.onnx");
    EXPECT_STREQ(e.what(), "/nonexistent/model.onnx: cannot open file: No such file or directory");
  }
}

TEST(FormatError, MessageHasFileWhereAndWhat) {
  const FormatError e("m.onnx", "node 'fc1' (op Gemm)", "unsupported attribute transA=1");
  EXPECT_STREQ(e.what(), "m.onnx: node 'fc1' (op Gemm): unsupported attribute transA=1");
  EXPECT_EQ(e.where(), "node 'fc1' (op Gemm)");
  const Error& base = e;  // catchable as portml::Error
  EXPECT_NE(std::string(base.what()).find("m.onnx"), std::string::npos);
}

}  // namespace
}  // namespace portml::io
