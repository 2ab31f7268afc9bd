import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The browser console: a second app beside the tablet's, served by the server at `/` with its
// assets under /assets/. Its root is ui/console; it imports the tablet's vocabulary, i18n and
// types from ../src, so the dev server must be allowed to read the whole ui/ folder.
const ui = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root: fileURLToPath(new URL('./console', import.meta.url)),
  base: '/',
  plugins: [vue()],
  clearScreen: false,
  server: {
    port: 5174,
    fs: { allow: [ui] },
    // `npm run dev:console` against a running server (GW_SERVER, default the server's usual port).
    proxy: { '/api': { target: process.env.GW_SERVER ?? 'http://127.0.0.1:8080', changeOrigin: false } },
  },
  build: {
    outDir: fileURLToPath(new URL('./dist-console', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2021',
    // Element Plus and ECharts are large by nature; they go into their own cached chunks.
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      output: {
        manualChunks(id) {
          if (id.includes('node_modules/element-plus') || id.includes('node_modules/@element-plus')) return 'element-plus'
          if (id.includes('node_modules/echarts') || id.includes('node_modules/zrender')) return 'echarts'
          if (id.includes('node_modules/')) return 'vendor'
        },
      },
    },
  },
})
