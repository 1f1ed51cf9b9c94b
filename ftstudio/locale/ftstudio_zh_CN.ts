<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>AccuracyMatrix</name>
    <message>
        <source>&lt;b&gt;Accuracy matrix&lt;/b&gt; — row: after training task i; column: evaluated on task j</source>
        <translation>&lt;b&gt;准确率矩阵&lt;/b&gt; — 行：训练完任务 i 之后；列：在任务 j 上评估</translation>
    </message>
    <message>
        <source>ACC —    BWT —</source>
        <translation>ACC —    BWT —</translation>
    </message>
    <message>
        <source>ACC: the average accuracy over all tasks after the last one. BWT (backward transfer): how much the earlier tasks&apos; accuracy changed by learning the later ones — below 0 means forgetting.</source>
        <translation>ACC：训练完最后一个任务后所有任务的平均准确率。BWT（后向迁移）：学习后面的任务使前面任务的准确率变化了多少 — 小于 0 表示发生了遗忘。</translation>
    </message>
    <message>
        <source>&lt;b&gt;Eval loss matrix&lt;/b&gt; (perplexity in brackets) — row: after training task i; column: evaluated on task j; lower is better, a rise down a column is forgetting</source>
        <translation>&lt;b&gt;评估损失矩阵&lt;/b&gt;（括号内为困惑度）— 行：训练完任务 i 之后；列：在任务 j 上评估；越低越好，同一列向下升高即为遗忘</translation>
    </message>
    <message>
        <source>task {n}</source>
        <translation>任务 {n}</translation>
    </message>
    <message>
        <source>on {task}</source>
        <translation>在 {task} 上</translation>
    </message>
    <message>
        <source>after {task}</source>
        <translation>训练 {task} 后</translation>
    </message>
    <message>
        <source>mean loss {loss}    perplexity {ppl}    forgetting (loss rise) {rise}</source>
        <translation>平均损失 {loss}    困惑度 {ppl}    遗忘（损失上升）{rise}</translation>
    </message>
    <message>
        <source>ACC {value}    BWT {value2}</source>
        <translation>ACC {value}    BWT {value2}</translation>
    </message>
</context>
<context>
    <name>AnswerBox</name>
    <message>
        <source>Generating…</source>
        <translation>正在生成…</translation>
    </message>
    <message>
        <source>   (stopped at the token limit)</source>
        <translation>   （已达到词元上限）</translation>
    </message>
    <message>
        <source>   (stopped)</source>
        <translation>   （已停止）</translation>
    </message>
    <message>
        <source>Generated:</source>
        <translation>生成结果：</translation>
    </message>
</context>
<context>
    <name>ColumnCombo</name>
    <message>
        <source>(none)</source>
        <translation>（无）</translation>
    </message>
</context>
<context>
    <name>CompareCurves</name>
    <message>
        <source>Training loss (smoothed)</source>
        <translation>训练损失（平滑）</translation>
    </message>
    <message>
        <source>loss</source>
        <translation>损失</translation>
    </message>
    <message>
        <source>Evaluation metric</source>
        <translation>评估指标</translation>
    </message>
    <message>
        <source>metric</source>
        <translation>指标</translation>
    </message>
</context>
<context>
    <name>ComparePage</name>
    <message>
        <source>arm</source>
        <translation>对比组</translation>
    </message>
    <message>
        <source>status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>quality</source>
        <translation>效果</translation>
    </message>
    <message>
        <source>macro-F1</source>
        <translation>宏平均 F1</translation>
    </message>
    <message>
        <source>baseline</source>
        <translation>基线</translation>
    </message>
    <message>
        <source>trainable</source>
        <translation>可训练参数</translation>
    </message>
    <message>
        <source>trainable %</source>
        <translation>可训练占比</translation>
    </message>
    <message>
        <source>peak MiB</source>
        <translation>峰值 MiB</translation>
    </message>
    <message>
        <source>arm MiB</source>
        <translation>本组 MiB</translation>
    </message>
    <message>
        <source>train s</source>
        <translation>训练秒数</translation>
    </message>
    <message>
        <source>samples/s</source>
        <translation>样本/秒</translation>
    </message>
    <message>
        <source>export MiB</source>
        <translation>导出 MiB</translation>
    </message>
    <message>
        <source>Running arm: training loss</source>
        <translation>当前对比组：训练损失</translation>
    </message>
    <message>
        <source>loss</source>
        <translation>损失</translation>
    </message>
    <message>
        <source>Compare techniques</source>
        <translation>对比微调技术</translation>
    </message>
    <message>
        <source>One model, one dataset, several techniques under the same budget: what each buys and what it costs.</source>
        <translation>同一个模型、同一份数据、相同的训练预算下对比多种技术：各自带来什么效果、付出多少代价。</translation>
    </message>
    <message>
        <source>Techniques (each at its default learning rate)</source>
        <translation>微调技术（各自使用默认学习率）</translation>
    </message>
    <message>
        <source> — task sequences only</source>
        <translation> — 仅限任务序列</translation>
    </message>
    <message>
        <source>{title}   (learning rate {lr:g}){seq}</source>
        <translation>{title}   （学习率 {lr:g}）{seq}</translation>
    </message>
    <message>
        <source>{title} parameters</source>
        <translation>{title}参数</translation>
    </message>
    <message>
        <source>Parameters ▸</source>
        <translation>参数 ▸</translation>
    </message>
    <message>
        <source>This technique&apos;s own parameters for its arm (defaults unless changed)</source>
        <translation>该技术在其对比组中使用的参数（未修改则为默认值）</translation>
    </message>
    <message>
        <source>Shared budget (the same for every arm)</source>
        <translation>共享预算（所有对比组相同）</translation>
    </message>
    <message>
        <source>— (use epochs)</source>
        <translation>—（按轮数）</translation>
    </message>
    <message>
        <source>One seed, or several separated by commas (mean ± spread; a lead within the spread is shown as a tie)</source>
        <translation>一个随机种子，或用逗号分隔的多个（显示均值 ± 波动；领先幅度在波动范围内时显示为打平）</translation>
    </message>
    <message>
        <source>Epochs:</source>
        <translation>训练轮数：</translation>
    </message>
    <message>
        <source>Max steps:</source>
        <translation>最大步数：</translation>
    </message>
    <message>
        <source>Batch size:</source>
        <translation>批大小：</translation>
    </message>
    <message>
        <source>Max length:</source>
        <translation>最大长度：</translation>
    </message>
    <message>
        <source>Seed(s):</source>
        <translation>随机种子：</translation>
    </message>
    <message>
        <source>Same examples in the same order and the same eval set for every arm; each technique at its default learning rate.</source>
        <translation>所有对比组使用相同的样本、相同的顺序和相同的评估集；每种技术使用各自的默认学习率。</translation>
    </message>
    <message>
        <source>Pre-flight</source>
        <translation>预检</translation>
    </message>
    <message>
        <source>Estimate the study&apos;s total time and its largest arm&apos;s peak memory</source>
        <translation>估算整个对比实验的总耗时，以及最大对比组的峰值内存</translation>
    </message>
    <message>
        <source>▶  Start study</source>
        <translation>▶  开始对比</translation>
    </message>
    <message>
        <source>↻ Continue</source>
        <translation>↻ 继续</translation>
    </message>
    <message>
        <source>Run the arms not finished yet (the stopped one resumes)</source>
        <translation>运行尚未完成的对比组（已停止的那个会从检查点恢复）</translation>
    </message>
    <message>
        <source>■ Stop</source>
        <translation>■ 停止</translation>
    </message>
    <message>
        <source>Save study…</source>
        <translation>保存对比实验…</translation>
    </message>
    <message>
        <source>Open study…</source>
        <translation>打开对比实验…</translation>
    </message>
    <message>
        <source>Export chart PNG…</source>
        <translation>导出图表 PNG…</translation>
    </message>
    <message>
        <source>Export table CSV…</source>
        <translation>导出表格 CSV…</translation>
    </message>
    <message>
        <source>No study yet.</source>
        <translation>还没有对比实验。</translation>
    </message>
    <message>
        <source>ETA</source>
        <translation>预计剩余</translation>
    </message>
    <message>
        <source>The chart appears here as arms finish.</source>
        <translation>对比组完成后，图表会显示在这里。</translation>
    </message>
    <message>
        <source>tick at least one technique to compare</source>
        <translation>请至少勾选一种要对比的技术</translation>
    </message>
    <message>
        <source>seeds must be whole numbers separated by commas; got &apos;{value}&apos;</source>
        <translation>随机种子必须是用逗号分隔的整数；收到的是“{value}”</translation>
    </message>
    <message>
        <source>give at least one seed</source>
        <translation>请至少给出一个随机种子</translation>
    </message>
    <message>
        <source>Save the study</source>
        <translation>保存对比实验</translation>
    </message>
    <message>
        <source>Study (*.yaml)</source>
        <translation>对比实验文件 (*.yaml)</translation>
    </message>
    <message>
        <source>Open a study</source>
        <translation>打开对比实验</translation>
    </message>
    <message>
        <source>Study (*.yaml *.yml)</source>
        <translation>对比实验文件 (*.yaml *.yml)</translation>
    </message>
    <message>
        <source>Pre-flight: measuring one step per arm…</source>
        <translation>预检：正在为每个对比组测量单步耗时…</translation>
    </message>
    <message>
        <source>a training run is in progress: stop it or wait for it to finish</source>
        <translation>有一次训练正在进行：请先停止它或等待它完成</translation>
    </message>
    <message>
        <source>Stopping after a checkpoint…</source>
        <translation>保存检查点后停止…</translation>
    </message>
    <message>
        <source>Running arm: {label} — training loss</source>
        <translation>当前对比组：{label} — 训练损失</translation>
    </message>
    <message>
        <source>✓ done</source>
        <translation>✓ 完成</translation>
    </message>
    <message>
        <source>▶ running</source>
        <translation>▶ 运行中</translation>
    </message>
    <message>
        <source>… waiting</source>
        <translation>… 等待中</translation>
    </message>
    <message>
        <source>{n_done}/{n_queue} arms done · total ETA {eta}{note}</source>
        <translation>已完成 {n_done}/{n_queue} 个对比组 · 总预计剩余 {eta}{note}</translation>
    </message>
    <message>
        <source> (known after the first arm or a pre-flight)</source>
        <translation>（第一个对比组完成或预检后可知）</translation>
    </message>
    <message>
        <source>Study {value} · {study_dir}</source>
        <translation>对比实验{value} · {study_dir}</translation>
    </message>
    <message>
        <source>the study failed</source>
        <translation>对比实验失败</translation>
    </message>
    <message>
        <source>Study failed.</source>
        <translation>对比实验失败。</translation>
    </message>
    <message>
        <source>no study results yet: run a study first</source>
        <translation>还没有对比实验结果：请先运行一次对比实验</translation>
    </message>
    <message>
        <source>PNG image (*.png)</source>
        <translation>PNG 图片 (*.png)</translation>
    </message>
    <message>
        <source>CSV table (*.csv)</source>
        <translation>CSV 表格 (*.csv)</translation>
    </message>
    <message>
        <source>Export</source>
        <translation>导出</translation>
    </message>
</context>
<context>
    <name>DataPage</name>
    <message>
        <source>Data files (*.csv *.tsv *.json *.jsonl *.parquet);;All files (*)</source>
        <translation>数据文件 (*.csv *.tsv *.json *.jsonl *.parquet);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Classification (text → label)</source>
        <translation>分类（文本 → 标签）</translation>
    </message>
    <message>
        <source>Text generation (causal LM)</source>
        <translation>文本生成（因果语言模型）</translation>
    </message>
    <message>
        <source>Data</source>
        <translation>数据</translation>
    </message>
    <message>
        <source>What the model learns from. Drop a CSV, TSV, JSON, JSONL or Parquet file here.</source>
        <translation>模型从中学习的内容。可以把 CSV、TSV、JSON、JSONL 或 Parquet 文件拖到这里。</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Task:</source>
        <translation>任务：</translation>
    </message>
    <message>
        <source>a file, builtin:NAME or hub:NAME</source>
        <translation>文件、builtin:名称 或 hub:名称</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>Training data:</source>
        <translation>训练数据：</translation>
    </message>
    <message>
        <source>— built-in datasets —</source>
        <translation>— 内置数据集 —</translation>
    </message>
    <message>
        <source>hub dataset name, e.g. stanfordnlp/sst2</source>
        <translation>Hub 数据集名称，例如 stanfordnlp/sst2</translation>
    </message>
    <message>
        <source>Use hub dataset</source>
        <translation>使用 Hub 数据集</translation>
    </message>
    <message>
        <source>Or:</source>
        <translation>或者：</translation>
    </message>
    <message>
        <source>optional; empty = hold out a share of the training data</source>
        <translation>可选；留空则从训练数据中划出一部分</translation>
    </message>
    <message>
        <source>Evaluation data:</source>
        <translation>评估数据：</translation>
    </message>
    <message>
        <source>Columns</source>
        <translation>列</translation>
    </message>
    <message>
        <source>optional, e.g. ### Instruction:\n{instruction}\n### Response:\n</source>
        <translation>可选，例如 ### Instruction:\n{instruction}\n### Response:\n</translation>
    </message>
    <message>
        <source>detect from the columns</source>
        <translation>根据列名自动识别</translation>
    </message>
    <message>
        <source>How rows become training text; detected from the column names by default</source>
        <translation>数据行如何变成训练文本；默认根据列名自动识别</translation>
    </message>
    <message>
        <source>empty: the model&apos;s chat template (or the default); &apos;default&apos;; or a Jinja template</source>
        <translation>留空：使用模型自带的对话模板（没有则用默认模板）；也可填 default，或一个 Jinja 模板</translation>
    </message>
    <message>
        <source>the answers only (assistant turns)</source>
        <translation>仅回答部分（assistant 轮次）</translation>
    </message>
    <message>
        <source>the whole text (prompt too)</source>
        <translation>全部文本（包括提示）</translation>
    </message>
    <message>
        <source>Which tokens the loss is taken on; answers only is the usual choice</source>
        <translation>在哪些词元上计算损失；通常只对回答部分计算</translation>
    </message>
    <message>
        <source>Text column</source>
        <translation>文本列</translation>
    </message>
    <message>
        <source>Label column</source>
        <translation>标签列</translation>
    </message>
    <message>
        <source>Second text (pairs)</source>
        <translation>第二段文本（句对）</translation>
    </message>
    <message>
        <source>Prompt column</source>
        <translation>提示列</translation>
    </message>
    <message>
        <source>Response column</source>
        <translation>回答列</translation>
    </message>
    <message>
        <source>Prompt template</source>
        <translation>提示模板</translation>
    </message>
    <message>
        <source>Text format</source>
        <translation>文本格式</translation>
    </message>
    <message>
        <source>Chat template</source>
        <translation>对话模板</translation>
    </message>
    <message>
        <source>Loss on</source>
        <translation>计算损失的部分</translation>
    </message>
    <message>
        <source>{title}:</source>
        <translation>{title}：</translation>
    </message>
    <message>
        <source>Label distribution</source>
        <translation>标签分布</translation>
    </message>
    <message>
        <source>First example, as the model is trained on it</source>
        <translation>第一条样本（模型训练时看到的样子）</translation>
    </message>
    <message>
        <source>Preview</source>
        <translation>预览</translation>
    </message>
    <message>
        <source>Choose training data</source>
        <translation>选择训练数据</translation>
    </message>
    <message>
        <source>Choose evaluation data</source>
        <translation>选择评估数据</translation>
    </message>
    <message>
        <source>choose a file, a built-in dataset or a hub dataset</source>
        <translation>请选择一个文件、内置数据集或 Hub 数据集</translation>
    </message>
    <message>
        <source>Reading…</source>
        <translation>正在读取…</translation>
    </message>
    <message>
        <source>&lt;b&gt;Format:&lt;/b&gt; {format}&lt;br&gt;&lt;b&gt;Template:&lt;/b&gt; {template} · &lt;b&gt;loss on:&lt;/b&gt; {loss_on} (highlighted)</source>
        <translation>&lt;b&gt;格式：&lt;/b&gt;{format}&lt;br&gt;&lt;b&gt;模板：&lt;/b&gt;{template} · &lt;b&gt;计算损失：&lt;/b&gt;{loss_on}（高亮部分）</translation>
    </message>
    <message>
        <source> · set from the file: {fields}</source>
        <translation> · 根据文件设置：{fields}</translation>
    </message>
    <message>
        <source>First {n} rows of {total:,} · {n_columns} columns</source>
        <translation>共 {total:,} 行中的前 {n} 行 · {n_columns} 列</translation>
    </message>
    <message>
        <source>First {n} rows · {n_columns} columns</source>
        <translation>前 {n} 行 · {n_columns} 列</translation>
    </message>
    <message>
        <source>Labels are not used for text generation.</source>
        <translation>文本生成任务不使用标签。</translation>
    </message>
    <message>
        <source>{n_rest:,} others:</source>
        <translation>其余 {n_rest:,} 个：</translation>
    </message>
</context>
<context>
    <name>GenerationControls</name>
    <message>
        <source>Stop after this many generated tokens (generation also stops at the end-of-turn token).</source>
        <translation>生成这么多词元后停止（遇到轮次结束词元时也会停止）。</translation>
    </message>
    <message>
        <source>Always pick the most likely next token: the same answer every time. Untick to sample.</source>
        <translation>总是选择概率最高的下一个词元：每次回答都相同。取消勾选即改为采样。</translation>
    </message>
    <message>
        <source>Sampling: &gt;1 flatter (more varied), &lt;1 sharper (more predictable); 0 is greedy.</source>
        <translation>采样：大于 1 分布更平（更多样），小于 1 更尖锐（更可预测）；0 即贪心解码。</translation>
    </message>
    <message>
        <source>Sampling: keep the smallest set of tokens whose probability reaches this mass (nucleus).</source>
        <translation>采样：保留累计概率达到该值的最小词元集合（核采样）。</translation>
    </message>
    <message>
        <source>Sampling: keep only the k most likely tokens (0 = no limit).</source>
        <translation>采样：只保留概率最高的 k 个词元（0 表示不限）。</translation>
    </message>
    <message>
        <source>Above 1 makes tokens already in the text less likely (1 = off).</source>
        <translation>大于 1 时，文本中已出现的词元概率会降低（1 表示关闭）。</translation>
    </message>
    <message>
        <source>Generation</source>
        <translation>生成设置</translation>
    </message>
    <message>
        <source>Greedy (deterministic)</source>
        <translation>贪心解码（结果确定）</translation>
    </message>
    <message>
        <source>Max new tokens</source>
        <translation>最大新词元数</translation>
    </message>
    <message>
        <source>Temperature</source>
        <translation>温度</translation>
    </message>
    <message>
        <source>Repetition penalty</source>
        <translation>重复惩罚</translation>
    </message>
    <message>
        <source>{label}:</source>
        <translation>{label}：</translation>
    </message>
</context>
<context>
    <name>LayerStrip</name>
    <message>
        <source>&lt;b&gt;Layer groups&lt;/b&gt; — green: trainable now, grey: frozen (learning rate below)</source>
        <translation>&lt;b&gt;层组&lt;/b&gt; — 绿色：当前可训练，灰色：已冻结（下方为学习率）</translation>
    </message>
    <message>
        <source>trainable</source>
        <translation>可训练</translation>
    </message>
    <message>
        <source>frozen</source>
        <translation>已冻结</translation>
    </message>
    <message>
        <source>{group}: {state}</source>
        <translation>{group}：{state}</translation>
    </message>
    <message>
        <source>, learning rate {lr:.2e}</source>
        <translation>，学习率 {lr:.2e}</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Model</source>
        <translation>“模型”页</translation>
    </message>
    <message>
        <source>Data</source>
        <translation>“数据”页</translation>
    </message>
    <message>
        <source>Technique</source>
        <translation>“微调技术”页</translation>
    </message>
    <message>
        <source>Training</source>
        <translation>“训练与预检”页</translation>
    </message>
    <message>
        <source>SETUP</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>1  Model</source>
        <translation>1  模型</translation>
    </message>
    <message>
        <source>2  Data</source>
        <translation>2  数据</translation>
    </message>
    <message>
        <source>3  Technique</source>
        <translation>3  微调技术</translation>
    </message>
    <message>
        <source>4  Training &amp; pre-flight</source>
        <translation>4  训练与预检</translation>
    </message>
    <message>
        <source>TRAIN</source>
        <translation>训练</translation>
    </message>
    <message>
        <source>Training run</source>
        <translation>训练运行</translation>
    </message>
    <message>
        <source>Compare techniques</source>
        <translation>对比微调技术</translation>
    </message>
    <message>
        <source>AFTER TRAINING</source>
        <translation>训练之后</translation>
    </message>
    <message>
        <source>Runs</source>
        <translation>运行记录</translation>
    </message>
    <message>
        <source>Playground</source>
        <translation>试用</translation>
    </message>
    <message>
        <source>ftstudio — fine-tuning studio</source>
        <translation>ftstudio — 模型微调工作台</translation>
    </message>
    <message>
        <source>Main</source>
        <translation>主工具栏</translation>
    </message>
    <message>
        <source>Open setup…</source>
        <translation>打开设置…</translation>
    </message>
    <message>
        <source>Save setup…</source>
        <translation>保存设置…</translation>
    </message>
    <message>
        <source>Copy command</source>
        <translation>复制命令</translation>
    </message>
    <message>
        <source>Copy `ftstudio train SETUP.yaml` to run this setup headless</source>
        <translation>复制 `ftstudio train SETUP.yaml`，在命令行中无界面运行这套设置</translation>
    </message>
    <message>
        <source>Demo setup</source>
        <translation>示例设置</translation>
    </message>
    <message>
        <source>MiniLM-L6 + the built-in sentiment set + LoRA</source>
        <translation>MiniLM-L6 + 内置情感数据集 + LoRA</translation>
    </message>
    <message>
        <source>▶  Start training</source>
        <translation>▶  开始训练</translation>
    </message>
    <message>
        <source>■  Stop</source>
        <translation>■  停止</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>退出</translation>
    </message>
    <message>
        <source>&amp;Language</source>
        <translation>语言(&amp;L)</translation>
    </message>
    <message>
        <source>System default</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>The studio will use {name} the next time it starts.</source>
        <translation>下次启动时，ftstudio 将使用{name}。</translation>
    </message>
    <message>
        <source>&lt;b&gt;Cannot start:&lt;/b&gt; {value} &lt;a href=&apos;{page}&apos; style=&apos;color:#8c0018&apos;&gt;Go to {value2}&lt;/a&gt;</source>
        <translation>&lt;b&gt;无法开始：&lt;/b&gt;{value} &lt;a href=&apos;{page}&apos; style=&apos;color:#8c0018&apos;&gt;前往{value2}&lt;/a&gt;</translation>
    </message>
    <message>
        <source>Cannot start: {message}</source>
        <translation>无法开始：{message}</translation>
    </message>
    <message>
        <source>Start training this setup (Ctrl+R)</source>
        <translation>用这套设置开始训练 (Ctrl+R)</translation>
    </message>
    <message>
        <source>A run is in progress: changes here apply to the next run, not to the one training now.</source>
        <translation>有一次运行正在进行：这里的修改只对下一次运行生效，不影响正在训练的这次。</translation>
    </message>
    <message>
        <source>Replace the setup?</source>
        <translation>替换当前设置？</translation>
    </message>
    <message>
        <source>Replace your current setup with the demo (MiniLM-L6 + sentiment + LoRA)? Save it first if you want to keep it.</source>
        <translation>要用示例设置（MiniLM-L6 + 情感数据集 + LoRA）替换当前设置吗？如需保留，请先保存。</translation>
    </message>
    <message>
        <source>Demo setup loaded: press Start</source>
        <translation>已载入示例设置：点击“开始训练”</translation>
    </message>
    <message>
        <source>choose a model on the Model page</source>
        <translation>请在“模型”页选择一个模型</translation>
    </message>
    <message>
        <source>{tech} trains a sequence of tasks: add at least one dataset on the Technique page</source>
        <translation>{tech} 按顺序训练一系列任务：请在“微调技术”页至少添加一个数据集</translation>
    </message>
    <message>
        <source>choose training data on the Data page</source>
        <translation>请在“数据”页选择训练数据</translation>
    </message>
    <message>
        <source>Learning rate set to {lr:g}, the usual rate for {title}</source>
        <translation>学习率已设为 {lr:g}，这是{title}的常用值</translation>
    </message>
    <message>
        <source>{n} tasks</source>
        <translation>{n} 个任务</translation>
    </message>
    <message>
        <source>Setup: {value}  ·  {value2}  ·  {tech}</source>
        <translation>当前设置：{value}  ·  {value2}  ·  {tech}</translation>
    </message>
    <message>
        <source>Open a setup</source>
        <translation>打开设置</translation>
    </message>
    <message>
        <source>Setup (*.yaml *.yml);;All files (*)</source>
        <translation>设置文件 (*.yaml *.yml);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Loaded {path}; {value} read as null (off): save the setup to write it that way</source>
        <translation>已加载 {path}；{value} 按 null（关闭）读取：保存设置即可按此写入</translation>
    </message>
    <message>
        <source>Loaded {path}</source>
        <translation>已加载 {path}</translation>
    </message>
    <message>
        <source>Save the setup</source>
        <translation>保存设置</translation>
    </message>
    <message>
        <source>Setup (*.yaml)</source>
        <translation>设置文件 (*.yaml)</translation>
    </message>
    <message>
        <source>Saved {path}</source>
        <translation>已保存 {path}</translation>
    </message>
    <message>
        <source>Copied: {cmd}</source>
        <translation>已复制：{cmd}</translation>
    </message>
    <message>
        <source>a study is running on the Compare techniques page: stop it or wait for it to finish</source>
        <translation>“对比微调技术”页上有一个对比实验正在运行：请先停止它或等待它完成</translation>
    </message>
    <message>
        <source>{technique} on {model} · {data}</source>
        <translation>{technique} · {model} · {data}</translation>
    </message>
    <message>
        <source>resuming {name}</source>
        <translation>正在恢复 {name}</translation>
    </message>
    <message>
        <source>Training in progress</source>
        <translation>正在训练</translation>
    </message>
    <message>
        <source>A run is training. Stop it (the checkpoint is kept, you can resume later) and quit?</source>
        <translation>有一次运行正在训练。要停止它（检查点会保留，之后可以恢复）并退出吗？</translation>
    </message>
    <message>
        <source>Study in progress</source>
        <translation>对比实验正在进行</translation>
    </message>
    <message>
        <source>A study is running. Stop it (the running arm keeps its checkpoint; Continue picks it up) and quit?</source>
        <translation>有一个对比实验正在运行。要停止它（正在运行的对比组会保留检查点，点击“继续”即可接着运行）并退出吗？</translation>
    </message>
</context>
<context>
    <name>ModelPage</name>
    <message>
        <source>Architecture</source>
        <translation>架构</translation>
    </message>
    <message>
        <source>Family</source>
        <translation>模型系列</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>参数量</translation>
    </message>
    <message>
        <source>Layers</source>
        <translation>层数</translation>
    </message>
    <message>
        <source>Hidden size</source>
        <translation>隐藏维度</translation>
    </message>
    <message>
        <source>Size (fp32)</source>
        <translation>大小（fp32）</translation>
    </message>
    <message>
        <source>Bias terms</source>
        <translation>偏置项</translation>
    </message>
    <message>
        <source>Max length</source>
        <translation>最大长度</translation>
    </message>
    <message>
        <source>Vocabulary</source>
        <translation>词表大小</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>来源</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>The pretrained model to fine-tune.</source>
        <translation>要微调的预训练模型。</translation>
    </message>
    <message>
        <source>Choose a model</source>
        <translation>选择模型</translation>
    </message>
    <message>
        <source>Local folder…</source>
        <translation>本地文件夹…</translation>
    </message>
    <message>
        <source>A folder with config.json and weights (save_pretrained output)</source>
        <translation>包含 config.json 和权重的文件夹（save_pretrained 的输出）</translation>
    </message>
    <message>
        <source>Rescan cache</source>
        <translation>重新扫描缓存</translation>
    </message>
    <message>
        <source>builtin:NAME, a folder, or a hub id like prajjwal1/bert-tiny</source>
        <translation>builtin:名称、文件夹，或 Hub 模型 ID（如 prajjwal1/bert-tiny）</translation>
    </message>
    <message>
        <source>Type a Hugging Face hub id or a path, or pick from the list</source>
        <translation>输入 Hugging Face Hub 模型 ID 或路径，或从列表中选择</translation>
    </message>
    <message>
        <source>Model:</source>
        <translation>模型：</translation>
    </message>
    <message>
        <source>Built-in models work offline. A folder needs config.json, a tokenizer and .safetensors weights. A hub id (owner/name) is used from the local Hugging Face cache, or downloaded when online.</source>
        <translation>内置模型可离线使用。文件夹需要包含 config.json、分词器和 .safetensors 权重。Hub 模型 ID（所有者/名称）优先使用本地 Hugging Face 缓存，联网时会自动下载。</translation>
    </message>
    <message>
        <source>About this model</source>
        <translation>模型信息</translation>
    </message>
    <message>
        <source>{title}:</source>
        <translation>{title}：</translation>
    </message>
    <message>
        <source>Built-in (ready offline)</source>
        <translation>内置（可离线使用）</translation>
    </message>
    <message>
        <source>In your Hugging Face cache</source>
        <translation>本地 Hugging Face 缓存中</translation>
    </message>
    <message>
        <source>In your Hugging Face cache (none found)</source>
        <translation>本地 Hugging Face 缓存中（未找到）</translation>
    </message>
    <message>
        <source>Choose a model folder</source>
        <translation>选择模型文件夹</translation>
    </message>
    <message>
        <source>Reading model facts (loads the weights once)…</source>
        <translation>正在读取模型信息（会加载一次权重）…</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>有</translation>
    </message>
    <message>
        <source>no (BitFit has nothing to train)</source>
        <translation>无（BitFit 没有可训练的参数）</translation>
    </message>
    <message>
        <source>{n} parameters</source>
        <translation>{n} 个参数</translation>
    </message>
    <message>
        <source>none (BitFit has nothing to train)</source>
        <translation>无（BitFit 没有可训练的参数）</translation>
    </message>
</context>
<context>
    <name>ParamPanel</name>
    <message>
        <source>Advanced</source>
        <translation>高级</translation>
    </message>
    <message>
        <source>{label}:</source>
        <translation>{label}：</translation>
    </message>
    <message>
        <source>Restore defaults</source>
        <translation>恢复默认值</translation>
    </message>
    <message>
        <source>Put every parameter of this technique back to its default</source>
        <translation>把该技术的所有参数恢复为默认值</translation>
    </message>
</context>
<context>
    <name>PlaygroundPage</name>
    <message>
        <source>Playground</source>
        <translation>试用</translation>
    </message>
    <message>
        <source>Try a finished run on your own text, next to the base model.</source>
        <translation>用你自己的文本试用已完成的运行，并与基座模型对比。</translation>
    </message>
    <message>
        <source>Run:</source>
        <translation>运行：</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>刷新</translation>
    </message>
    <message>
        <source>Type a sentence, e.g. “a wonderful, moving film”</source>
        <translation>输入一句话，例如“a wonderful, moving film”</translation>
    </message>
    <message>
        <source>Predict  (Ctrl+Enter)</source>
        <translation>预测  (Ctrl+Enter)</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>Stop generating (the text so far stays)</source>
        <translation>停止生成（已生成的文本会保留）</translation>
    </message>
    <message>
        <source>Fine-tuned</source>
        <translation>微调后</translation>
    </message>
    <message>
        <source>Base model (before fine-tuning)</source>
        <translation>基座模型（微调前）</translation>
    </message>
    <message>
        <source>  ·  acc {acc:.3f}</source>
        <translation>  ·  准确率 {acc:.3f}</translation>
    </message>
    <message>
        <source>(no finished runs yet — train one first)</source>
        <translation>（还没有已完成的运行 — 请先训练一次）</translation>
    </message>
    <message>
        <source>{technique} on {model} · task: {task}</source>
        <translation>{technique} · {model} · 任务：{task}</translation>
    </message>
    <message>
        <source>Generate  (Ctrl+Enter)</source>
        <translation>生成  (Ctrl+Enter)</translation>
    </message>
    <message>
        <source>Type an instruction, e.g. “Name three primary colors.”</source>
        <translation>输入一条指令，例如“Name three primary colors.”</translation>
    </message>
    <message>
        <source>pick a finished run first</source>
        <translation>请先选择一次已完成的运行</translation>
    </message>
    <message>
        <source>type some text to try</source>
        <translation>请输入要试用的文本</translation>
    </message>
    <message>
        <source>thinking…</source>
        <translation>推理中…</translation>
    </message>
</context>
<context>
    <name>PreflightPanel</name>
    <message>
        <source>Pre-flight check</source>
        <translation>训练前预检</translation>
    </message>
    <message>
        <source>Loads the model with the chosen technique and times one real training step, so you know what will train, whether it fits in memory and how long it takes.</source>
        <translation>用所选技术加载模型并实测一个真实的训练步，让你事先知道哪些参数会训练、内存是否够用以及需要多长时间。</translation>
    </message>
    <message>
        <source>Run pre-flight check</source>
        <translation>运行预检</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Trainable parameters</source>
        <translation>可训练参数</translation>
    </message>
    <message>
        <source>Weights</source>
        <translation>权重</translation>
    </message>
    <message>
        <source>Gradients</source>
        <translation>梯度</translation>
    </message>
    <message>
        <source>Optimizer state</source>
        <translation>优化器状态</translation>
    </message>
    <message>
        <source>Activations</source>
        <translation>激活值</translation>
    </message>
    <message>
        <source>Estimated peak memory</source>
        <translation>估计峰值内存</translation>
    </message>
    <message>
        <source>Available</source>
        <translation>可用内存</translation>
    </message>
    <message>
        <source>One step</source>
        <translation>单步耗时</translation>
    </message>
    <message>
        <source>Time per epoch</source>
        <translation>每轮耗时</translation>
    </message>
    <message>
        <source>This run (as set up)</source>
        <translation>本次运行（按当前设置）</translation>
    </message>
    <message>
        <source>{title}:</source>
        <translation>{title}：</translation>
    </message>
    <message>
        <source>memory use: —</source>
        <translation>内存占用：—</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>正在启动…</translation>
    </message>
    <message>
        <source>Loading the model and timing one step…</source>
        <translation>正在加载模型并测量单步耗时…</translation>
    </message>
    <message>
        <source>Pre-flight cancelled.</source>
        <translation>预检已取消。</translation>
    </message>
    <message>
        <source>Stale — the setup changed since this check: run it again.</source>
        <translation>已过时 — 预检之后设置有变化：请重新运行预检。</translation>
    </message>
    <message>
        <source>Pre-flight failed: {msg}</source>
        <translation>预检失败：{msg}</translation>
    </message>
    <message>
        <source>✖ Cannot start: fix the problems below, then run the check again.</source>
        <translation>✖ 无法开始：请修正下列问题，然后重新运行预检。</translation>
    </message>
    <message>
        <source>{trainable} of {total}  ({pct:.2f}%)</source>
        <translation>{trainable} / {total}  ({pct:.2f}%)</translation>
    </message>
    <message>
        <source>{value} + teacher {value2}</source>
        <translation>{value} + 教师 {value2}</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>未知</translation>
    </message>
    <message>
        <source>{seconds:.3f} s</source>
        <translation>{seconds:.3f} 秒</translation>
    </message>
    <message>
        <source>not measured</source>
        <translation>未测量</translation>
    </message>
    <message>
        <source>{value:.3f} s (teacher {value2:.3f} s of it, first epoch only: its outputs are then reused)</source>
        <translation>{value:.3f} 秒（其中教师 {value2:.3f} 秒，仅第一轮：之后复用其输出）</translation>
    </message>
    <message>
        <source>{n} steps</source>
        <translation>{n} 步</translation>
    </message>
    <message>
        <source>{n:g} epochs</source>
        <translation>{n:g} 轮</translation>
    </message>
    <message>
        <source> × {n} tasks</source>
        <translation> × {n} 个任务</translation>
    </message>
    <message>
        <source>memory use: {pct:.0f}% of available</source>
        <translation>内存占用：可用内存的 {pct:.0f}%</translation>
    </message>
    <message>
        <source>Baseline: always answering &apos;{label}&apos; scores accuracy {acc:.3f}; the run must beat it.</source>
        <translation>基线：总是回答“{label}”的准确率为 {acc:.3f}；训练结果必须超过它。</translation>
    </message>
    <message>
        <source>✔ Fits. Ready to start.</source>
        <translation>✔ 内存足够，可以开始训练。</translation>
    </message>
    <message>
        <source>✔ Fits, with notes:</source>
        <translation>✔ 内存足够，但请注意：</translation>
    </message>
    <message>
        <source>✖ Will not fit as configured:</source>
        <translation>✖ 按当前设置内存不够：</translation>
    </message>
</context>
<context>
    <name>RunPage</name>
    <message>
        <source>tokenizing</source>
        <translation>分词</translation>
    </message>
    <message>
        <source>evaluating</source>
        <translation>评估</translation>
    </message>
    <message>
        <source>loading</source>
        <translation>加载</translation>
    </message>
    <message>
        <source>teacher</source>
        <translation>教师模型</translation>
    </message>
    <message>
        <source>exporting</source>
        <translation>导出</translation>
    </message>
    <message>
        <source>checkpoint</source>
        <translation>检查点</translation>
    </message>
    <message>
        <source>training</source>
        <translation>训练</translation>
    </message>
    <message>
        <source>working</source>
        <translation>处理中</translation>
    </message>
    <message>
        <source>accuracy {acc} (majority baseline {base}: always &apos;{label}&apos;)</source>
        <translation>准确率 {acc}（多数类基线 {base}：总是回答“{label}”）</translation>
    </message>
    <message>
        <source>accuracy {acc} — the same as always answering &apos;{label}&apos;</source>
        <translation>准确率 {acc} — 与总是回答“{label}”相同</translation>
    </message>
    <message>
        <source>accuracy {acc} — worse than always answering &apos;{label}&apos; ({base})</source>
        <translation>准确率 {acc} — 不如总是回答“{label}”（{base}）</translation>
    </message>
    <message>
        <source>No run yet — press Start.</source>
        <translation>还没有运行 — 请点击“开始训练”。</translation>
    </message>
    <message>
        <source>■ Stop</source>
        <translation>■ 停止</translation>
    </message>
    <message>
        <source>Stop within one step; the checkpoint is kept and the run can be resumed</source>
        <translation>在一步之内停止；检查点会保留，之后可以恢复这次运行</translation>
    </message>
    <message>
        <source>↻ Resume</source>
        <translation>↻ 恢复</translation>
    </message>
    <message>
        <source>Continue this run from its last checkpoint</source>
        <translation>从最近的检查点继续这次运行</translation>
    </message>
    <message>
        <source>elapsed —   ETA —</source>
        <translation>已用时 —   预计剩余 —</translation>
    </message>
    <message>
        <source>Loading the model and data…</source>
        <translation>正在加载模型和数据…</translation>
    </message>
    <message>
        <source>Resuming {run}</source>
        <translation>正在恢复 {run}</translation>
    </message>
    <message>
        <source>Starting: {description}</source>
        <translation>开始：{description}</translation>
    </message>
    <message>
        <source>earlier sessions: {n} logged steps up to step {upto}, {time} of training time</source>
        <translation>之前的会话：已记录 {n} 步（到第 {upto} 步），训练时间 {time}</translation>
    </message>
    <message>
        <source>step {step} / {total}   </source>
        <translation>第 {step} / {total} 步   </translation>
    </message>
    <message>
        <source>   {speed:.1f} samples/s</source>
        <translation>   {speed:.1f} 样本/秒</translation>
    </message>
    <message>
        <source>{step}elapsed {elapsed}   ETA {eta}{sps}</source>
        <translation>{step}已用时 {elapsed}   预计剩余 {eta}{sps}</translation>
    </message>
    <message>
        <source>Starting…</source>
        <translation>正在启动…</translation>
    </message>
    <message>
        <source>Training</source>
        <translation>训练中</translation>
    </message>
    <message>
        <source>Stopping after this step…</source>
        <translation>当前步结束后停止…</translation>
    </message>
    <message>
        <source>Finished</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>Stopped — checkpoint kept; Resume continues it</source>
        <translation>已停止 — 检查点已保留；点击“恢复”可继续</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>{state}: {message}</source>
        <translation>{state}：{message}</translation>
    </message>
    <message>
        <source>Time by phase: {phases}</source>
        <translation>各阶段耗时：{phases}</translation>
    </message>
    <message>
        <source>Memory: {comparison}</source>
        <translation>内存：{comparison}</translation>
    </message>
    <message>
        <source>Finished, but no better than the majority baseline: {verdict}</source>
        <translation>已完成，但并不比多数类基线好：{verdict}</translation>
    </message>
    <message>
        <source>peak memory {size} (from the steps&apos; memory samples)</source>
        <translation>峰值内存 {size}（根据各步的内存采样）</translation>
    </message>
    <message>
        <source>ERROR: {message}</source>
        <translation>错误：{message}</translation>
    </message>
    <message>
        <source>{technique} on {model} · trainable {trainable} of {params} ({pct:.2f}%) · {device} {precision} · {total} steps · {run_dir}</source>
        <translation>{technique} · {model} · 可训练 {trainable} / {params} ({pct:.2f}%) · {device} {precision} · 共 {total} 步 · {run_dir}</translation>
    </message>
    <message>
        <source>run folder: {path}</source>
        <translation>运行文件夹：{path}</translation>
    </message>
    <message>
        <source>eval @ step {step}: {metrics}</source>
        <translation>第 {step} 步评估：{metrics}</translation>
    </message>
    <message>
        <source> · about {time} left</source>
        <translation> · 大约还剩 {time}</translation>
    </message>
    <message>
        <source>WARNING: {message}</source>
        <translation>警告：{message}</translation>
    </message>
    <message>
        <source>checkpoint @ step {step}: {path}</source>
        <translation>第 {step} 步检查点：{path}</translation>
    </message>
    <message>
        <source>task {name} done: {metrics}</source>
        <translation>任务 {name} 完成：{metrics}</translation>
    </message>
    <message>
        <source>peak memory {size}</source>
        <translation>峰值内存 {size}</translation>
    </message>
    <message>
        <source>epoch {value:.2f} · loss {value2:.4f}</source>
        <translation>轮次 {value:.2f} · 损失 {value2:.4f}</translation>
    </message>
</context>
<context>
    <name>RunsPage</name>
    <message>
        <source>Run</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Technique</source>
        <translation>微调技术</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Dataset</source>
        <translation>数据集</translation>
    </message>
    <message>
        <source>Started</source>
        <translation>开始时间</translation>
    </message>
    <message>
        <source>Accuracy</source>
        <translation>准确率</translation>
    </message>
    <message>
        <source>Baseline</source>
        <translation>基线</translation>
    </message>
    <message>
        <source>Macro-F1</source>
        <translation>宏平均 F1</translation>
    </message>
    <message>
        <source>Eval loss</source>
        <translation>评估损失</translation>
    </message>
    <message>
        <source>Trainable</source>
        <translation>可训练</translation>
    </message>
    <message>
        <source>Peak memory</source>
        <translation>峰值内存</translation>
    </message>
    <message>
        <source>Memory est./measured</source>
        <translation>内存 估计/实测</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>耗时</translation>
    </message>
    <message>
        <source>{acc} (always &apos;{label}&apos;)</source>
        <translation>{acc}（总是回答“{label}”）</translation>
    </message>
    <message>
        <source>  ✖ baseline</source>
        <translation>  ✖ 未超过基线</translation>
    </message>
    <message>
        <source>Trainable %</source>
        <translation>可训练占比</translation>
    </message>
    <message>
        <source>Trainable params</source>
        <translation>可训练参数</translation>
    </message>
    <message>
        <source>Memory estimate</source>
        <translation>内存估计</translation>
    </message>
    <message>
        <source>Samples/s</source>
        <translation>样本/秒</translation>
    </message>
    <message>
        <source>Majority baseline</source>
        <translation>多数类基线</translation>
    </message>
    <message>
        <source>Perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>Runs</source>
        <translation>运行记录</translation>
    </message>
    <message>
        <source>Every run is kept on disk; select two or more to compare.</source>
        <translation>每次运行都保存在磁盘上；选中两个或更多即可对比。</translation>
    </message>
    <message>
        <source>Refresh</source>
        <translation>刷新</translation>
    </message>
    <message>
        <source>Compare selected</source>
        <translation>对比所选</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>恢复</translation>
    </message>
    <message>
        <source>Continue a stopped, failed or interrupted run from its last checkpoint</source>
        <translation>从最近的检查点继续已停止、失败或中断的运行</translation>
    </message>
    <message>
        <source>Use its setup</source>
        <translation>使用其设置</translation>
    </message>
    <message>
        <source>Load this run&apos;s configuration into the setup pages</source>
        <translation>把这次运行的配置载入设置页面</translation>
    </message>
    <message>
        <source>Export…</source>
        <translation>导出…</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Open in TensorBoard</source>
        <translation>在 TensorBoard 中打开</translation>
    </message>
    <message>
        <source>Curves</source>
        <translation>曲线</translation>
    </message>
    <message>
        <source>Config</source>
        <translation>配置</translation>
    </message>
    <message>
        <source>Summary</source>
        <translation>摘要</translation>
    </message>
    <message>
        <source>Compare</source>
        <translation>对比</translation>
    </message>
    <message>
        <source>Start TensorBoard on the runs folder (every run writes its event files) and open it in the browser</source>
        <translation>在运行文件夹上启动 TensorBoard（每次运行都会写入事件文件），并在浏览器中打开</translation>
    </message>
    <message>
        <source>TensorBoard is not installed: pip install &quot;ftstudio[tensorboard]&quot;</source>
        <translation>未安装 TensorBoard：pip install &quot;ftstudio[tensorboard]&quot;</translation>
    </message>
    <message>
        <source>Starting TensorBoard…</source>
        <translation>正在启动 TensorBoard…</translation>
    </message>
    <message>
        <source>TensorBoard: {res} (runs in {logdir})</source>
        <translation>TensorBoard：{res}（运行文件夹 {logdir}）</translation>
    </message>
    <message>
        <source>{run_dir}
Double-click to rename</source>
        <translation>{run_dir}
双击可重命名</translation>
    </message>
    <message>
        <source>no better than always answering &apos;{value}&apos;</source>
        <translation>并不比总是回答“{value}”好</translation>
    </message>
    <message>
        <source>{n_recs} runs in {value}</source>
        <translation>{value} 中有 {n_recs} 次运行</translation>
    </message>
    <message>
        <source>(config.yaml missing)</source>
        <translation>（缺少 config.yaml）</translation>
    </message>
    <message>
        <source>Delete runs</source>
        <translation>删除运行</translation>
    </message>
    <message>
        <source>Delete these runs and all their files?

{names}</source>
        <translation>删除这些运行及其所有文件？

{names}</translation>
    </message>
    <message>
        <source>PEFT adapter / technique weights</source>
        <translation>PEFT 适配器 / 技术权重</translation>
    </message>
    <message>
        <source>Merged model</source>
        <translation>合并后的模型</translation>
    </message>
    <message>
        <source>Full model folder</source>
        <translation>完整模型文件夹</translation>
    </message>
    <message>
        <source>Delta: only the trained tensors (biases + head), small; needs the base model</source>
        <translation>增量：只包含训练过的张量（偏置 + 任务头），体积小；使用时需要基座模型</translation>
    </message>
    <message>
        <source>GGUF Q8_0 (half the size)</source>
        <translation>GGUF Q8_0（体积减半）</translation>
    </message>
    <message>
        <source>adapter</source>
        <translation>适配器</translation>
    </message>
    <message>
        <source>merged model</source>
        <translation>合并后的模型</translation>
    </message>
    <message>
        <source>full model</source>
        <translation>完整模型</translation>
    </message>
    <message>
        <source>Export {kind} to…</source>
        <translation>将{kind}导出到…</translation>
    </message>
    <message>
        <source>Export {fmt} to…</source>
        <translation>将 {fmt} 导出到…</translation>
    </message>
    <message>
        <source>exporting {name} as {fmt}…</source>
        <translation>正在把 {name} 导出为 {fmt}…</translation>
    </message>
    <message>
        <source>Export GGUF ({value}) to…</source>
        <translation>将 GGUF（{value}）导出到…</translation>
    </message>
    <message>
        <source>writing GGUF ({value})…</source>
        <translation>正在写入 GGUF（{value}）…</translation>
    </message>
    <message>
        <source>exported to {p} (Modelfile beside it: ollama create NAME -f Modelfile)</source>
        <translation>已导出到 {p}（旁边附有 Modelfile：ollama create 名称 -f Modelfile）</translation>
    </message>
    <message>
        <source>run {name} has no export/ folder (did it finish?)</source>
        <translation>运行 {name} 没有 export/ 文件夹（它完成了吗？）</translation>
    </message>
    <message>
        <source>{dest} already exists; choose another folder</source>
        <translation>{dest} 已存在；请选择其他文件夹</translation>
    </message>
    <message>
        <source>ONNX model (onnxruntime)</source>
        <translation>ONNX 模型 (onnxruntime)</translation>
    </message>
    <message>
        <source> — needs the onnx extra</source>
        <translation> — 需要安装 onnx 扩展</translation>
    </message>
    <message>
        <source>Merged model (built now)</source>
        <translation>合并后的模型（现在构建）</translation>
    </message>
    <message>
        <source>exported to {p}</source>
        <translation>已导出到 {p}</translation>
    </message>
    <message>
        <source>pre-flight estimate {estimate}, measured {measured} (estimate/measured {ratio})</source>
        <translation>预检估计 {estimate}，实测 {measured}（估计/实测 {ratio}）</translation>
    </message>
</context>
<context>
    <name>TaskSequenceEditor</name>
    <message>
        <source>Task sequence — trained in this order</source>
        <translation>任务序列 — 按此顺序训练</translation>
    </message>
    <message>
        <source>Add file…</source>
        <translation>添加文件…</translation>
    </message>
    <message>
        <source>Add built-in…</source>
        <translation>添加内置数据集…</translation>
    </message>
    <message>
        <source>Add current data</source>
        <translation>添加当前数据</translation>
    </message>
    <message>
        <source>Add the dataset chosen on the Data page</source>
        <translation>添加在“数据”页选择的数据集</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>移除</translation>
    </message>
    <message>
        <source>Move up (earlier)</source>
        <translation>上移（更早训练）</translation>
    </message>
    <message>
        <source>Move down (later)</source>
        <translation>下移（更晚训练）</translation>
    </message>
    <message>
        <source>Double-click a task to rename it. Columns follow the Data page&apos;s mapping.</source>
        <translation>双击任务可重命名。列的对应关系沿用“数据”页的设置。</translation>
    </message>
    <message>
        <source>Add a task&apos;s data</source>
        <translation>添加任务数据</translation>
    </message>
    <message>
        <source>task {value}: {src}</source>
        <translation>任务 {value}：{src}</translation>
    </message>
</context>
<context>
    <name>TeacherPicker</name>
    <message>
        <source>a finished run, a model folder or a model id</source>
        <translation>一次已完成的运行、模型文件夹或模型 ID</translation>
    </message>
    <message>
        <source>Folder…</source>
        <translation>文件夹…</translation>
    </message>
    <message>
        <source>run {name}: {technique} on {model}</source>
        <translation>运行 {name}：{technique} · {model}</translation>
    </message>
    <message>
        <source>Teacher: a finished run or a model folder</source>
        <translation>教师模型：一次已完成的运行或一个模型文件夹</translation>
    </message>
</context>
<context>
    <name>TechniquePage</name>
    <message>
        <source>Technique</source>
        <translation>微调技术</translation>
    </message>
    <message>
        <source>How the model is fine-tuned: what trains, what it costs.</source>
        <translation>模型如何微调：训练哪些参数，代价是多少。</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>参数</translation>
    </message>
    <message>
        <source>&lt;b&gt;Student:&lt;/b&gt; the model chosen on the &lt;a href=&apos;#&apos;&gt;Model page&lt;/a&gt; (&lt;code&gt;{model}&lt;/code&gt;). &lt;b&gt;Teacher:&lt;/b&gt; pick a finished run or folder below.</source>
        <translation>&lt;b&gt;学生模型：&lt;/b&gt;在&lt;a href=&apos;#&apos;&gt;“模型”页&lt;/a&gt;选择的模型（&lt;code&gt;{model}&lt;/code&gt;）。&lt;b&gt;教师模型：&lt;/b&gt;请在下方选择一次已完成的运行或一个文件夹。</translation>
    </message>
    <message>
        <source>empty = {lora_targets} (the default for this {fam} model)</source>
        <translation>留空 = {lora_targets}（该 {fam} 模型的默认值）</translation>
    </message>
    <message>
        <source>empty = the default for the model (none known for this one: name them)</source>
        <translation>留空 = 该模型的默认值（这个模型没有已知的默认值：请填写模块名）</translation>
    </message>
    <message>
        <source>No description.</source>
        <translation>暂无说明。</translation>
    </message>
    <message>
        <source>, </source>
        <translation>、</translation>
    </message>
    <message>
        <source> · Learning rate set when picked: {lr:g}</source>
        <translation> · 选中时设置的学习率：{lr:g}</translation>
    </message>
    <message>
        <source>Tasks: {tasks} · Export: {exports}</source>
        <translation>任务：{tasks} · 导出：{exports}</translation>
    </message>
    <message>
        <source>full model</source>
        <translation>完整模型</translation>
    </message>
    <message>
        <source>adapter</source>
        <translation>适配器</translation>
    </message>
    <message>
        <source>merged model</source>
        <translation>合并后的模型</translation>
    </message>
    <message>
        <source>changed weights only</source>
        <translation>仅导出变化的权重</translation>
    </message>
</context>
<context>
    <name>TrainingPage</name>
    <message>
        <source>Auto (GPU if available)</source>
        <translation>自动（有 GPU 则用 GPU）</translation>
    </message>
    <message>
        <source>Apple GPU (MPS)</source>
        <translation>Apple GPU (MPS)</translation>
    </message>
    <message>
        <source>Auto</source>
        <translation>自动</translation>
    </message>
    <message>
        <source>fp32 (full)</source>
        <translation>fp32（全精度）</translation>
    </message>
    <message>
        <source>bf16 (mixed)</source>
        <translation>bf16（混合精度）</translation>
    </message>
    <message>
        <source>fp16 (mixed)</source>
        <translation>fp16（混合精度）</translation>
    </message>
    <message>
        <source>Training</source>
        <translation>训练</translation>
    </message>
    <message>
        <source>How long and how hard to train, and where.</source>
        <translation>训练多久、多大强度，以及在哪里训练。</translation>
    </message>
    <message>
        <source>Schedule</source>
        <translation>训练计划</translation>
    </message>
    <message>
        <source>Passes over the training data (fractions allowed)</source>
        <translation>遍历训练数据的次数（可以是小数）</translation>
    </message>
    <message>
        <source>no limit</source>
        <translation>不限</translation>
    </message>
    <message>
        <source>Stop after this many optimizer steps (overrides epochs)</source>
        <translation>达到这么多优化器步数后停止（优先于轮数）</translation>
    </message>
    <message>
        <source>Examples per optimizer step (per device)</source>
        <translation>每个优化器步的样本数（每个设备）</translation>
    </message>
    <message>
        <source>Accumulate gradients over this many batches before a step</source>
        <translation>累积这么多个批次的梯度后再更新一步</translation>
    </message>
    <message>
        <source>Peak learning rate, e.g. 2e-5 (full) or 1e-4…1e-3 (LoRA, adapters)</source>
        <translation>峰值学习率，例如 2e-5（全参数微调）或 1e-4…1e-3（LoRA、适配器）</translation>
    </message>
    <message>
        <source>Longer inputs are truncated (tokens)</source>
        <translation>更长的输入会被截断（按词元计）</translation>
    </message>
    <message>
        <source>Share of steps spent warming the learning rate up</source>
        <translation>用于学习率预热的步数比例</translation>
    </message>
    <message>
        <source>Epochs:</source>
        <translation>训练轮数：</translation>
    </message>
    <message>
        <source>Max steps:</source>
        <translation>最大步数：</translation>
    </message>
    <message>
        <source>Batch size:</source>
        <translation>批大小：</translation>
    </message>
    <message>
        <source>Gradient accumulation:</source>
        <translation>梯度累积：</translation>
    </message>
    <message>
        <source>Learning rate:</source>
        <translation>学习率：</translation>
    </message>
    <message>
        <source>Warmup ratio:</source>
        <translation>预热比例：</translation>
    </message>
    <message>
        <source>Weight decay:</source>
        <translation>权重衰减：</translation>
    </message>
    <message>
        <source>Max length:</source>
        <translation>最大长度：</translation>
    </message>
    <message>
        <source>Hardware and bookkeeping</source>
        <translation>硬件与记录</translation>
    </message>
    <message>
        <source>Auto: bf16 on GPUs that support it, fp32 on CPU</source>
        <translation>自动：支持的 GPU 上用 bf16，CPU 上用 fp32</translation>
    </message>
    <message>
        <source>end of each epoch only</source>
        <translation>仅在每轮结束时</translation>
    </message>
    <message>
        <source>Evaluate every N steps (saved as eval_every; the lowest value, &apos;end of each epoch only&apos;, is `eval_every: null`)</source>
        <translation>每 N 步评估一次（保存为 eval_every；最小值“仅在每轮结束时”即 `eval_every: null`）</translation>
    </message>
    <message>
        <source>Write a resumable checkpoint every N steps (saved as save_every; the lowest value, &apos;with each evaluation&apos;, is `save_every: null`)</source>
        <translation>每 N 步写入一个可续训的检查点（保存为 save_every；最小值“随每次评估”即 `save_every: null`）</translation>
    </message>
    <message>
        <source>with each evaluation</source>
        <translation>随每次评估</translation>
    </message>
    <message>
        <source>Same seed, same data order and initialisation</source>
        <translation>种子相同，数据顺序和初始化就相同</translation>
    </message>
    <message>
        <source>default runs folder</source>
        <translation>默认运行文件夹</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>Device:</source>
        <translation>设备：</translation>
    </message>
    <message>
        <source>Precision:</source>
        <translation>精度：</translation>
    </message>
    <message>
        <source>Evaluate every (steps):</source>
        <translation>评估间隔（步）：</translation>
    </message>
    <message>
        <source>Checkpoint every (steps):</source>
        <translation>检查点间隔（步）：</translation>
    </message>
    <message>
        <source>Seed:</source>
        <translation>随机种子：</translation>
    </message>
    <message>
        <source>Runs folder:</source>
        <translation>运行文件夹：</translation>
    </message>
    <message>
        <source>Runs folder</source>
        <translation>运行文件夹</translation>
    </message>
    <message>
        <source>enter a number such as 2e-5</source>
        <translation>请输入数字，例如 2e-5</translation>
    </message>
    <message>
        <source>learning rate: &apos;{t}&apos; is not a number (e.g. 2e-5)</source>
        <translation>学习率：“{t}”不是数字（例如 2e-5）</translation>
    </message>
</context>
<context>
    <name>TrainingPlots</name>
    <message>
        <source>Training loss</source>
        <translation>训练损失</translation>
    </message>
    <message>
        <source>loss</source>
        <translation>损失</translation>
    </message>
    <message>
        <source>Evaluation</source>
        <translation>评估</translation>
    </message>
    <message>
        <source>metric</source>
        <translation>指标</translation>
    </message>
    <message>
        <source>Learning rate</source>
        <translation>学习率</translation>
    </message>
    <message>
        <source>learning rate</source>
        <translation>学习率</translation>
    </message>
    <message>
        <source>Memory</source>
        <translation>内存</translation>
    </message>
    <message>
        <source>Throughput</source>
        <translation>吞吐量</translation>
    </message>
    <message>
        <source>samples/s</source>
        <translation>样本/秒</translation>
    </message>
    <message>
        <source>Gradient norm</source>
        <translation>梯度范数</translation>
    </message>
    <message>
        <source>norm</source>
        <translation>范数</translation>
    </message>
    <message>
        <source>Technique losses</source>
        <translation>技术相关损失</translation>
    </message>
    <message>
        <source>value</source>
        <translation>数值</translation>
    </message>
    <message>
        <source>ACC —    BWT —</source>
        <translation>ACC —    BWT —</translation>
    </message>
    <message>
        <source>&lt;b&gt;Technique state&lt;/b&gt; (step {step})</source>
        <translation>&lt;b&gt;技术状态&lt;/b&gt;（第 {step} 步）</translation>
    </message>
    <message>
        <source>task {n}</source>
        <translation>任务 {n}</translation>
    </message>
</context>
<context>
    <name>WelcomeBanner</name>
    <message>
        <source>&lt;b&gt;Welcome to ftstudio.&lt;/b&gt; Try the demo: press &lt;b&gt;▶ Start training&lt;/b&gt; (top right) — it is already set up (MiniLM-L6 + a sentiment dataset + LoRA) and trains in a few minutes on a CPU.&lt;br&gt;&lt;b&gt;1 Model&lt;/b&gt;: the pretrained model to start from. &lt;b&gt;2 Data&lt;/b&gt;: your examples (a file, a built-in set) and which columns hold text and labels. &lt;b&gt;3 Technique&lt;/b&gt;: how the model is fine-tuned — what trains and what it costs. &lt;b&gt;4 Training&lt;/b&gt;: how long and how fast, and a pre-flight check of memory and time. Then watch &lt;b&gt;Training run&lt;/b&gt;, compare results in &lt;b&gt;Runs&lt;/b&gt; and try a model in &lt;b&gt;Playground&lt;/b&gt;.</source>
        <translation>&lt;b&gt;欢迎使用 ftstudio。&lt;/b&gt;先试试示例：点击右上角的 &lt;b&gt;▶ 开始训练&lt;/b&gt; — 示例已经设置好（MiniLM-L6 + 情感数据集 + LoRA），在 CPU 上几分钟就能训练完。&lt;br&gt;&lt;b&gt;1 模型&lt;/b&gt;：作为起点的预训练模型。&lt;b&gt;2 数据&lt;/b&gt;：你的样本（文件或内置数据集），以及哪些列是文本和标签。&lt;b&gt;3 微调技术&lt;/b&gt;：模型如何微调 — 训练哪些参数、代价多少。&lt;b&gt;4 训练&lt;/b&gt;：训练多久、多快，以及对内存和时间的预检。然后在&lt;b&gt;训练运行&lt;/b&gt;中观察训练，在&lt;b&gt;运行记录&lt;/b&gt;中对比结果，在&lt;b&gt;试用&lt;/b&gt;中体验模型。</translation>
    </message>
    <message>
        <source>Got it</source>
        <translation>知道了</translation>
    </message>
</context>
<context>
    <name>app</name>
    <message>
        <source>Ready in {shown:.2f} s</source>
        <translation>{shown:.2f} 秒后就绪</translation>
    </message>
</context>
<context>
    <name>common</name>
    <message>
        <source>classification</source>
        <translation>分类</translation>
    </message>
    <message>
        <source>text generation</source>
        <translation>文本生成</translation>
    </message>
    <message>
        <source>finished</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>running</source>
        <translation>运行中</translation>
    </message>
    <message>
        <source>stopping</source>
        <translation>正在停止</translation>
    </message>
    <message>
        <source>interrupted</source>
        <translation>已中断</translation>
    </message>
    <message>
        <source>stopped</source>
        <translation>已停止</translation>
    </message>
    <message>
        <source>waiting</source>
        <translation>等待中</translation>
    </message>
    <message>
        <source>accuracy</source>
        <translation>准确率</translation>
    </message>
    <message>
        <source>macro-F1</source>
        <translation>宏平均 F1</translation>
    </message>
    <message>
        <source>eval loss</source>
        <translation>评估损失</translation>
    </message>
    <message>
        <source>perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>loss</source>
        <translation>损失</translation>
    </message>
    <message>
        <source>majority baseline</source>
        <translation>多数类基线</translation>
    </message>
    <message>
        <source>beats the baseline</source>
        <translation>超过基线</translation>
    </message>
</context>
<context>
    <name>param_panel</name>
    <message>
        <source>from the model&apos;s own predictions (true Fisher)</source>
        <translation>基于模型自身的预测（真 Fisher）</translation>
    </message>
    <message>
        <source>from the correct answers (empirical Fisher)</source>
        <translation>基于正确答案（经验 Fisher）</translation>
    </message>
    <message>
        <source>Range {lo}–{hi}.</source>
        <translation>范围 {lo}–{hi}。</translation>
    </message>
    <message>
        <source>At least {lo}.</source>
        <translation>至少 {lo}。</translation>
    </message>
    <message>
        <source>At most {hi}.</source>
        <translation>至多 {hi}。</translation>
    </message>
    <message>
        <source>{label}: {v:g} is above the maximum {max:g}; it was set to {max:g}</source>
        <translation>{label}：{v:g} 超过最大值 {max:g}；已设为 {max:g}</translation>
    </message>
    <message>
        <source>{label}: {v:g} is below the minimum {min:g}; it was set to {min:g}</source>
        <translation>{label}：{v:g} 低于最小值 {min:g}；已设为 {min:g}</translation>
    </message>
    <message>
        <source>(none)</source>
        <translation>（无）</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>e.g. 1e-4</source>
        <translation>例如 1e-4</translation>
    </message>
    <message>
        <source>{label}: enter a number (e.g. 1e-4)</source>
        <translation>{label}：请输入数字（例如 1e-4）</translation>
    </message>
    <message>
        <source>{label}: &apos;{t}&apos; is not a number</source>
        <translation>{label}：“{t}”不是数字</translation>
    </message>
    <message>
        <source>comma-separated; empty = default</source>
        <translation>用逗号分隔；留空为默认值</translation>
    </message>
    <message>
        <source>comma-separated</source>
        <translation>用逗号分隔</translation>
    </message>
</context>
<context>
    <name>plots</name>
    <message>
        <source>raw</source>
        <translation>原始值</translation>
    </message>
    <message>
        <source>smoothed</source>
        <translation>平滑值</translation>
    </message>
    <message>
        <source>eval loss</source>
        <translation>评估损失</translation>
    </message>
    <message>
        <source>accuracy</source>
        <translation>准确率</translation>
    </message>
    <message>
        <source>macro-F1</source>
        <translation>宏平均 F1</translation>
    </message>
    <message>
        <source>perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>majority baseline</source>
        <translation>多数类基线</translation>
    </message>
    <message>
        <source>loss</source>
        <translation>损失</translation>
    </message>
    <message>
        <source>samples/s</source>
        <translation>样本/秒</translation>
    </message>
    <message>
        <source>grad norm</source>
        <translation>梯度范数</translation>
    </message>
    <message>
        <source>process memory (RSS)</source>
        <translation>进程内存 (RSS)</translation>
    </message>
    <message>
        <source>GPU allocated</source>
        <translation>GPU 已分配</translation>
    </message>
    <message>
        <source>GPU reserved</source>
        <translation>GPU 已预留</translation>
    </message>
    <message>
        <source>all weights</source>
        <translation>全部权重</translation>
    </message>
    <message>
        <source>biases and norms (no decay)</source>
        <translation>偏置与归一化（无衰减）</translation>
    </message>
    <message>
        <source>task head</source>
        <translation>任务头</translation>
    </message>
    <message>
        <source>embeddings</source>
        <translation>嵌入层</translation>
    </message>
    <message>
        <source>soft prompt</source>
        <translation>软提示</translation>
    </message>
    <message>
        <source>prefix</source>
        <translation>前缀</translation>
    </message>
    <message>
        <source>task loss</source>
        <translation>任务损失</translation>
    </message>
    <message>
        <source>EWC penalty</source>
        <translation>EWC 惩罚项</translation>
    </message>
    <message>
        <source>KD loss</source>
        <translation>蒸馏损失 (KD)</translation>
    </message>
    <message>
        <source>CE loss</source>
        <translation>交叉熵损失 (CE)</translation>
    </message>
    <message>
        <source>hidden-state loss</source>
        <translation>隐藏状态损失</translation>
    </message>
    <message>
        <source>layer {n}</source>
        <translation>第 {n} 层</translation>
    </message>
    <message>
        <source>{group} (no decay)</source>
        <translation>{group}（无衰减）</translation>
    </message>
    <message>
        <source>step</source>
        <translation>步数</translation>
    </message>
    <message>
        <source>EWC: task loss vs penalty</source>
        <translation>EWC：任务损失与惩罚项</translation>
    </message>
    <message>
        <source>Distillation: KD vs CE loss</source>
        <translation>知识蒸馏：KD 损失与 CE 损失</translation>
    </message>
    <message>
        <source>Technique series</source>
        <translation>技术相关曲线</translation>
    </message>
</context>
<context>
    <name>util</name>
    <message>
        <source>Show details</source>
        <translation>显示详细信息</translation>
    </message>
    <message>
        <source>Hide details</source>
        <translation>隐藏详细信息</translation>
    </message>
    <message>
        <source>ftstudio — unexpected error</source>
        <translation>ftstudio — 意外错误</translation>
    </message>
    <message>
        <source>Something went wrong: {message} Your runs are safe.</source>
        <translation>出现了问题：{message} 你的运行记录是安全的。</translation>
    </message>
    <message>
        <source> Details were written to {path}.</source>
        <translation> 详细信息已写入 {path}。</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>no</source>
        <translation>否</translation>
    </message>
</context>
</TS>
