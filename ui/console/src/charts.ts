// Only the ECharts parts the console draws: lines and bars (overview trend), scatters (map,
// ticket location). No map component or tiles: places are plotted on plain lon/lat axes.

import * as echarts from 'echarts/core'
import { BarChart, LineChart, ScatterChart } from 'echarts/charts'
import { GridComponent, LegendComponent, TooltipComponent, VisualMapComponent, MarkPointComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([BarChart, LineChart, ScatterChart, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent, MarkPointComponent, CanvasRenderer])

export { echarts }
export type { EChartsCoreOption } from 'echarts/core'
